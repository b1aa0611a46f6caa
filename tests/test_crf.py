"""The CRF against brute-force enumeration of every tag path (float64), and its gradients."""

import itertools

import torch

from rnnkit.crf import CRF


def tiny(seed=0, B=3, T=4, K=3):
    torch.manual_seed(seed)
    crf = CRF(K).double()
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    emissions = torch.randn(B, T, K, dtype=torch.float64, requires_grad=True)
    lengths = [4, 2, 1][:B]
    mask = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]
    return crf, emissions, mask, lengths


def path_score(crf, e, path):
    s = crf.start[path[0]] + crf.end[path[-1]] + sum(e[t, k] for t, k in enumerate(path))
    return s + sum(crf.transitions[a, b] for a, b in itertools.pairwise(path))


def test_log_partition_score_and_viterbi_match_enumeration():
    crf, emissions, mask, lengths = tiny()
    K = emissions.shape[2]
    tags = torch.randint(0, K, mask.shape)
    nll = crf.nll(emissions, tags, mask)
    best = crf.decode(emissions, mask)
    for b, n in enumerate(lengths):
        paths = list(itertools.product(range(K), repeat=n))
        scores = torch.stack([path_score(crf, emissions[b], p) for p in paths])
        gold = path_score(crf, emissions[b], tags[b, :n].tolist())
        torch.testing.assert_close(nll[b], torch.logsumexp(scores, 0) - gold)
        assert tuple(best[b, :n].tolist()) == paths[int(scores.argmax())]
        assert best[b, n:].eq(0).all()


def test_nll_gradients_match_finite_differences():
    crf, emissions, mask, _ = tiny(seed=1)
    tags = torch.randint(0, emissions.shape[2], mask.shape)
    params = (emissions, crf.start, crf.end, crf.transitions)
    assert torch.autograd.gradcheck(lambda e, s, f, a: _nll(crf, e, s, f, a, tags, mask), params)


def _nll(crf, e, s, f, a, tags, mask):
    crf.start, crf.end, crf.transitions = s, f, a  # plain tensors stand in for the parameters
    return crf.nll(e, tags, mask).sum()


def test_probabilities_of_all_paths_sum_to_one():
    crf, emissions, mask, lengths = tiny(seed=2, B=1)
    K, n = emissions.shape[2], lengths[0]
    total = sum(torch.exp(-crf.nll(emissions, torch.tensor([p]), mask)) for p in itertools.product(range(K), repeat=n))
    torch.testing.assert_close(total, torch.ones(1, dtype=torch.float64))
