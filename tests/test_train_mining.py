"""Multi-genre triplet mining: never its own negative, no shared genre = negative, semi-hard rule."""

import itertools

import torch

from reelmatch.train.mining import MultiLabelTripletMiner, pair_masks


def _genres(rows, vocab="ABC"):
    return torch.tensor([[g in r for g in vocab] for r in rows])


def test_pair_masks_multi_genre():
    g = _genres(["A", "AB", "B", "C", ""])
    pos, neg = pair_masks(g)
    assert not pos.diagonal().any() and not neg.diagonal().any()
    assert pos[0, 1] and pos[1, 2] and not pos[0, 2]
    assert neg[0, 2] and neg[1, 3] and not neg[0, 1]
    assert not pos[4].any() and not neg[4].any() and not neg[:, 4].any()  # unlabelled: skipped


def test_duplicate_of_itself_is_never_its_negative():
    g = _genres(["A", "A", "B"])
    _, neg = pair_masks(g)
    assert not neg[0, 1] and not neg[0, 0]


def test_semihard_against_brute_force():
    torch.manual_seed(0)
    emb = torch.nn.functional.normalize(torch.randn(10, 4), dim=1)
    rows = ["A", "AB", "B", "C", "AC", "A", "B", "BC", "C", "A"]
    g = _genres(rows)
    miner = MultiLabelTripletMiner(margin=0.5)
    got = set(zip(*[t.tolist() for t in miner(emb, g)]))
    d = torch.cdist(emb, emb)
    want = set()
    for a, p, n in itertools.product(range(10), repeat=3):
        if len({a, p, n}) < 3:
            continue
        if set(rows[a]) & set(rows[p]) and not set(rows[a]) & set(rows[n]):
            if d[a, p] < d[a, n] < d[a, p] + 0.5:
                want.add((a, p, n))
    assert got == want and got
    for a, p, n in got:
        assert a != n and set(rows[a]).isdisjoint(rows[n])
