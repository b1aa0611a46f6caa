"""Readers of labelled numeric sequences: UEA .ts, long-format CSV, .npz; their bad-input errors."""

import numpy as np
import pytest

from rnnkit.data.sequences import is_sequence_file, read_sequences, read_ts

TS = """# a comment
@problemName Toy
@dimensions 2
@equalLength false
@classLabel true up down
@data
1,2,3:4,5,6:up
0.5,0.25:-1,-2:down
"""


def write(tmp_path, text, name):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_ts_reads_variable_length_samples_channels_split_by_colon(tmp_path):
    samples, labels = read_sequences(write(tmp_path, TS, "toy_TRAIN.ts"))
    assert labels == ["up", "down"]
    np.testing.assert_array_equal(samples[0], [[1, 4], [2, 5], [3, 6]])
    np.testing.assert_array_equal(samples[1], [[0.5, -1], [0.25, -2]])
    assert samples[0].dtype == np.float32


@pytest.mark.parametrize("data, message", [
    ("1,2:3,4:up\n1,2:up\n", r"line 8: 1 channel\(s\), but the file's samples have 2"),
    ("1,2:3,4:sideways\n", r"line 7: label 'sideways' is not in @classLabel \(up down\)"),
    ("1,2:3:up\n", r"line 7: channels of different lengths"),
    ("1,x:3,4:up\n", r"line 7: a value that is not a number"),
    ("1,?:3,4:up\n", r"line 7: a value that is not a number"),
])
def test_ts_bad_samples_raise_one_line_naming_the_file_and_line(tmp_path, data, message):
    header = TS[: TS.index("@data")] + "@data\n"
    path = write(tmp_path, header + data, "bad.ts")
    with pytest.raises(ValueError, match=message) as err:
        read_ts(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_ts_without_dimensions_still_requires_one_channel_count(tmp_path):
    path = write(tmp_path, "@classLabel true a b\n@data\n1,2:3,4:a\n1,2,3:b\n", "nodim.ts")
    with pytest.raises(ValueError, match="line 4: 1 channel"):
        read_ts(path)


def test_long_csv_groups_rows_by_sequence_and_orders_them_by_t(tmp_path):
    path = write(tmp_path, "sequence_id,t,ax,ay,label\ns1,1,2,20,walk\ns1,0,1,10,walk\ns2,0,5,50,run\n", "long.csv")
    assert is_sequence_file(path)
    samples, labels = read_sequences(path)
    assert labels == ["walk", "run"]
    np.testing.assert_array_equal(samples[0], [[1, 10], [2, 20]])
    np.testing.assert_array_equal(samples[1], [[5, 50]])


def test_long_csv_rejects_a_sequence_with_two_labels_and_a_short_row(tmp_path):
    path = write(tmp_path, "sequence_id,t,ax,label\ns1,0,1,walk\ns1,1,2,run\n", "two.csv")
    with pytest.raises(ValueError, match=r"two.csv, line 3: sequence 's1' has label 'run' here but 'walk'"):
        read_sequences(path)
    path = write(tmp_path, "sequence_id,t,ax,label\ns1,0,walk\n", "short.csv")
    with pytest.raises(ValueError, match=r"short.csv, line 2: 3 column\(s\), the header has 4"):
        read_sequences(path)


def test_text_csv_is_not_a_sequence_file(tmp_path):
    assert not is_sequence_file(write(tmp_path, "label,text\nham,hello\n", "texts.csv"))


def test_npz_padded_with_lengths(tmp_path):
    x = np.arange(2 * 3 * 2, dtype=np.float64).reshape(2, 3, 2)
    path = tmp_path / "d.npz"
    np.savez(path, x=x, lengths=np.array([3, 1]), y=np.array(["a", "b"]))
    samples, labels = read_sequences(path)
    assert labels == ["a", "b"] and samples[0].shape == (3, 2) and samples[1].shape == (1, 2)
    np.testing.assert_array_equal(samples[1], x[1, :1])


def test_npz_object_arrays_are_refused_without_unpickling(tmp_path):
    path = tmp_path / "obj.npz"
    x = np.empty(2, dtype=object)
    x[0], x[1] = np.zeros((2, 1)), np.zeros((3, 1))
    np.savez(path, x=x, y=np.array([0, 1]))
    with pytest.raises(ValueError, match="without pickled objects"):
        read_sequences(path)


def test_npz_bad_lengths(tmp_path):
    path = tmp_path / "len.npz"
    np.savez(path, x=np.zeros((2, 3, 1)), lengths=np.array([4, 1]), y=np.array([0, 1]))
    with pytest.raises(ValueError, match=r"'lengths' must be 2 integers in 1..3"):
        read_sequences(path)
