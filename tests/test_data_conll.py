"""CoNLL-U and two-column tagged-sentence readers: columns, skipped lines, malformed lines."""

import pytest

from rnnkit.data.conll import (
    conllu_column,
    read_conllu,
    read_tagged,
    read_two_column,
    write_tagged,
)

CONLLU = """# sent_id = 1
# text = I can't go.
1	I	I	PRON	PRP	_	3	nsubj	_	_
2-3	can't	_	_	_	_	_	_	_	_
2	ca	can	AUX	MD	_	4	aux	_	_
3	n't	not	PART	RB	_	4	advmod	_	_
3.1	gone	go	VERB	VBN	_	_	_	_	_
4	go	go	VERB	VB	_	0	root	_	SpaceAfter=No
5	.	.	PUNCT	.	_	4	punct	_	_

# sent_id = 2
1	Yes	yes	INTJ	UH	_	0	root	_	_
"""


def write(tmp_path, text, name="x.conllu"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_conllu_reads_forms_and_the_chosen_column_skipping_ranges_empty_nodes_and_comments(tmp_path):
    path = write(tmp_path, CONLLU)
    assert read_conllu(path) == [(["I", "ca", "n't", "go", "."], ["PRON", "AUX", "PART", "VERB", "PUNCT"]),
                                 (["Yes"], ["INTJ"])]
    assert read_conllu(path, "XPOS")[0][1] == ["PRP", "MD", "RB", "VB", "."]
    assert read_conllu(path, 7)[0][1] == ["nsubj", "aux", "advmod", "root", "punct"]
    assert read_tagged(path, "lemma")[1] == (["Yes"], ["yes"])


def test_conllu_column_names_and_indices():
    assert conllu_column("upos") == 3 and conllu_column("XPOS") == 4 and conllu_column("9") == 9
    with pytest.raises(ValueError, match="unknown CoNLL-U column 'pos'"):
        conllu_column("pos")
    with pytest.raises(ValueError, match="0..9"):
        conllu_column(10)


@pytest.mark.parametrize("line, message", [
    ("1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_", "line 3: 9 TAB-separated column"),
    ("one\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_", "line 3: the ID 'one' is not an integer"),
    ("1-x\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_", "line 3: malformed ID '1-x'"),
])
def test_a_malformed_conllu_line_names_the_file_and_the_line(tmp_path, line, message):
    path = write(tmp_path, f"# c\n1\tA\ta\tDET\tDT\t_\t0\troot\t_\t_\n{line}\n")
    with pytest.raises(ValueError, match=message) as err:
        read_conllu(path)
    assert str(path) in str(err.value)


def test_two_column_format_takes_first_and_last_fields_and_skips_docstart(tmp_path):
    path = write(tmp_path, "-DOCSTART- -X- O\n\nEU\tB-ORG\nrejects\tO\n\n\nPeter NNP B-PER\nBlackburn NNP I-PER\n",
                 "ner.txt")
    sentences = read_two_column(path)
    assert sentences == [(["EU", "rejects"], ["B-ORG", "O"]), (["Peter", "Blackburn"], ["B-PER", "I-PER"])]
    assert read_tagged(path) == sentences  # not CoNLL-U: two-column
    assert read_two_column(write(tmp_path, write_tagged(sentences), "again.tsv")) == sentences


def test_two_column_format_rejects_a_line_with_one_field(tmp_path):
    path = write(tmp_path, "EU\tB-ORG\nrejects\n", "bad.tsv")
    with pytest.raises(ValueError, match=r"bad.tsv, line 2: one column"):
        read_two_column(path)


def test_conllu_content_is_recognised_without_the_extension(tmp_path):
    assert read_tagged(write(tmp_path, CONLLU, "x.txt"))[1] == (["Yes"], ["INTJ"])


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match="no sentences"):
        read_conllu(write(tmp_path, "# only a comment\n\n"))
    with pytest.raises(ValueError, match="no such file"):
        read_tagged(tmp_path / "absent.conllu")
