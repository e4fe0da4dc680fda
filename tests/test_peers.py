"""The single-pass peers: each attention change on a hand-computable case, the shared harness (windows, PAMR, the
decision), and that no peer changes the open_clip model it reads."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from car import peers
from car.backbones import blocks, embed_patches, image_tensor, run_blocks
from car.config import CaRConfig
from car.peers import base, clearclip, naclip, sclip, scclip
from tests.conftest import tiny_clip


def _softmax_rows(m: list[list[float]]) -> list[list[float]]:
    """Row softmax with Python floats (the hand computation)."""
    out = []
    for row in m:
        e = [math.exp(v) for v in row]
        out.append([v / sum(e) for v in e])
    return out


def _gram(x: list[list[float]]) -> list[list[float]]:
    return [[sum(a * b for a, b in zip(r, c)) for c in x] for r in x]


# 3 tokens, 2 channels, one head
Q = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
K = [[1.0, 0.0], [1.0, 0.0], [0.0, 2.0]]


def test_sclip_sums_a_query_query_and_a_key_key_softmax_on_three_tokens() -> None:
    scale = 0.5
    got = sclip.attention(torch.tensor(Q), torch.tensor(K), scale)
    qq = _softmax_rows([[scale * v for v in row] for row in _gram(Q)])
    kk = _softmax_rows([[scale * v for v in row] for row in _gram(K)])
    want = torch.tensor([[a + b for a, b in zip(r1, r2)] for r1, r2 in zip(qq, kk)])
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(got.sum(-1), torch.full((3,), 2.0))  # two softmaxes, not renormalised
    # token 0: q0·q = (1, 0, 1) and k0·k = (1, 1, 0), times s = 0.5
    r = math.exp(0.5)
    assert torch.allclose(got[0], torch.tensor([2 * r, 1 + r, r + 1]) / (2 * r + 1), atol=1e-6)


def test_clearclip_attends_by_query_query_similarity_alone() -> None:
    got = clearclip.attention(torch.tensor(Q), torch.tensor(K), 1.0)
    assert torch.allclose(got, torch.tensor(_softmax_rows(_gram(Q))), atol=1e-6)
    # token 2 = (1, 1): its similarities (1, 1, 2) -> e, e, e^2 over 2e + e^2
    e = math.e
    assert torch.allclose(got[2], torch.tensor([e, e, e * e]) / (2 * e + e * e), atol=1e-6)


def test_naclip_kernel_on_a_4x4_grid() -> None:
    omega = naclip.neighbourhood((4, 4), std=5.0)
    assert omega.shape == (17, 17)
    assert (omega[0] == 0).all() and (omega[:, 0] == 0).all()  # the CLS row and column
    patches = omega[1:, 1:]
    assert torch.allclose(patches.diagonal(), torch.ones(16))
    assert math.isclose(float(patches[0, 1]), math.exp(-1 / 50), rel_tol=1e-6)  # (0,0)-(0,1): distance 1
    assert math.isclose(float(patches[0, 5]), math.exp(-2 / 50), rel_tol=1e-6)  # (0,0)-(1,1): distance^2 2
    assert math.isclose(float(patches[0, 15]), math.exp(-18 / 50), rel_tol=1e-6)  # (0,0)-(3,3): 9 + 9
    assert torch.allclose(patches, patches.T)


def test_naclip_kernel_equals_the_repositorys_convolution() -> None:
    """Independent formulation (sinahmr/NACLIP ``get_attention_addition``): convolve each patch's one-hot map with
    a (2h-1) x (2w-1) Gaussian window."""
    h, w, std = 3, 4, 1.5
    ys = torch.arange(2 * h - 1, dtype=torch.float32) - (h - 1)
    xs = torch.arange(2 * w - 1, dtype=torch.float32) - (w - 1)
    window = torch.exp(-(ys[:, None] ** 2 + xs[None] ** 2) / (2 * std ** 2))
    onehot = torch.eye(h * w).reshape(h * w, 1, h, w)
    conv = F.conv2d(onehot, window[None, None], padding="same").reshape(h * w, h * w)
    assert torch.allclose(naclip.neighbourhood((h, w), std, cls_token=False), conv, atol=1e-6)


def test_naclip_adds_the_kernel_to_key_key_logits() -> None:
    omega = torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.5], [0.0, 0.5, 1.0]])
    got = naclip.attention(torch.tensor(K), 1.0, omega)
    logits = [[a + b for a, b in zip(r, o)] for r, o in zip(_gram(K), omega.tolist())]
    assert torch.allclose(got, torch.tensor(_softmax_rows(logits)), atol=1e-6)


def test_scclip_outlier_factor_by_hand() -> None:
    """Points 0, 1, 2, 3, 10 on a line, k = 2, squared distances: k-distances 4, 1, 1, 4, 64 and
    LOF_i = d_k(i) · mean_j 1/d_k(j): 4, 0.625, 0.625, 4, 40."""
    x = torch.tensor([[0.0], [1.0], [2.0], [3.0], [10.0]])
    assert torch.allclose(scclip.outlier_factors(x, neighbours=2), torch.tensor([4.0, 0.625, 0.625, 4.0, 40.0]))
    assert scclip.outliers(x, neighbours=2, contamination=0.2).tolist() == [4]


def test_scclip_repairs_a_token_with_its_good_neighbours() -> None:
    x = torch.arange(9, dtype=torch.float32)[:, None].repeat(1, 2)  # 3 x 3 grid, token i holds (i, i)
    fixed = scclip.repair(x, (3, 3), torch.tensor([4, 0]))  # the centre and a corner are bad
    assert torch.allclose(fixed[4], torch.full((2,), (1 + 2 + 3 + 5 + 6 + 7 + 8) / 7))  # 8 neighbours minus 0
    assert torch.allclose(fixed[0], torch.full((2,), (1 + 3) / 2))  # corner: 1, 3 (4 is bad)
    assert torch.equal(fixed[[1, 2, 3, 5, 6, 7, 8]], x[[1, 2, 3, 5, 6, 7, 8]])


def test_scclip_aggregation_and_attention_by_hand() -> None:
    sim = torch.tensor([[1.0, 0.5, 0.2], [0.5, 1.0, 0.1], [0.2, 0.1, 1.0]])
    x = torch.tensor([[1.0], [3.0], [7.0]])
    agg = scclip.aggregate(x, sim, beta=0.4)  # row 0: (1·1 + 0.5·3) / 1.5; row 2: itself
    assert torch.allclose(agg, torch.tensor([[2.5 / 1.5], [(0.5 + 3.0) / 1.5], [7.0]]), atol=1e-5)
    k = torch.tensor(K)
    got = scclip.attention(sim, k, 1.0, temperature=3.0)
    mean = float(sim.mean())
    mid = [[3 * (v - mean) if v >= mean else -math.inf for v in row] for row in sim.tolist()]
    mid = [[math.exp(v) if v > -math.inf else 0.0 for v in row] for row in mid]
    mid = [[v / sum(row) for v in row] for row in mid]
    kk = _softmax_rows(_gram(K))
    want = torch.tensor([[(a + b) / 2 for a, b in zip(r1, r2)] for r1, r2 in zip(mid, kk)])
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(got.sum(-1), torch.ones(3))


def test_scclip_block_indices_scale_with_depth() -> None:
    assert [scclip.depth_index(i, 12) for i in (3, 8, 10)] == [3, 8, 10]  # the repository's, unchanged
    assert [scclip.depth_index(i, 4) for i in (0, 3, 8, 10)] == [0, 1, 2, 2]  # 4 blocks: outputs of blocks 1..3


# --------------------------------------------------------------------------- the blocks, on a tiny CLIP
@pytest.fixture(scope="module")
def clip_deep():
    return tiny_clip(seed=3, image_size=64, patch=8, layers=4)


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)


def test_clearclip_has_no_residual_or_ffn_and_sclip_keeps_both(clip_deep) -> None:
    """Perturbing the last block's MLP moves SCLIP's features, not ClearCLIP's; ClearCLIP's features are
    ``ln_post(out_proj(softmax(q qᵀ s) v)) @ proj`` computed by hand from the block's weights."""
    x = image_tensor(clip_deep, _image())
    clear, grid = clearclip.features(clip_deep, x)
    keep, _ = sclip.features(clip_deep, x)
    other = copy.deepcopy(clip_deep)
    with torch.no_grad():
        for p in blocks(other)[-1].mlp.parameters():
            p.add_(0.5)
    assert torch.allclose(clearclip.features(other, x)[0], clear, atol=1e-6)
    assert not torch.allclose(sclip.features(other, x)[0], keep, atol=1e-3)
    tokens, _ = embed_patches(clip_deep, x)
    tokens = run_blocks(clip_deep, tokens, 0, 3)
    last = blocks(clip_deep)[-1]
    a = last.ln_1(tokens)[0]  # (1 + n, E)
    width, heads = a.shape[1], last.attn.num_heads
    q, _, v = F.linear(a, last.attn.in_proj_weight, last.attn.in_proj_bias).chunk(3, -1)
    q, v = (t.reshape(-1, heads, width // heads).transpose(0, 1) for t in (q, v))
    out = torch.softmax(q @ q.transpose(1, 2) * (width // heads) ** -0.5, -1) @ v  # (heads, 1 + n, d)
    out = last.attn.out_proj(out.transpose(0, 1).reshape(-1, width))
    want = F.normalize(clip_deep.visual.ln_post(out[1:]) @ clip_deep.visual.proj, dim=-1)
    assert grid == (6, 8) and torch.allclose(clear, want, atol=1e-5)


def test_maskclip_is_the_value_path() -> None:
    """MaskCLIP equals the identity attention: ClearCLIP's block with A = I."""
    bundle = tiny_clip(seed=1, image_size=32, patch=8, layers=2)
    x = image_tensor(bundle, _image(1)[:32, :40])
    got, _ = peers.maskclip.features(bundle, x)
    tokens, _ = embed_patches(bundle, x)
    last = blocks(bundle)[-1]
    q, k, v = base.split_heads(last.attn, last.ln_1(run_blocks(bundle, tokens, 0, 1)))
    eye = torch.eye(v.shape[-2])
    want = base.project(bundle, base.merge_heads(last.attn, eye, v)[0, 1:])
    assert torch.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("name", peers.list_peers())
def test_a_peer_leaves_the_open_clip_model_unchanged(clip_deep, name) -> None:
    model = clip_deep.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modules = [id(m) for m in model.modules()]
    flags = [p.requires_grad for p in model.parameters()]
    x = image_tensor(clip_deep, _image(2))
    tokens, _ = embed_patches(clip_deep, x)
    with torch.no_grad():
        ref = blocks(clip_deep)[-1](run_blocks(clip_deep, tokens, 0, 3))
    feats, grid = peers.PEERS[name](clip_deep, x)
    assert feats.shape == (grid[0] * grid[1], 32) and torch.allclose(feats.norm(dim=-1), torch.ones(len(feats)))
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert [id(m) for m in model.modules()] == modules and [p.requires_grad for p in model.parameters()] == flags
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    with torch.no_grad():
        assert torch.equal(blocks(clip_deep)[-1](run_blocks(clip_deep, tokens, 0, 3)), ref)
    assert model.visual.transformer.resblocks[-1].forward.__func__ is type(blocks(clip_deep)[-1]).forward


# --------------------------------------------------------------------------- the harness
def test_sliding_windows_follow_the_harness() -> None:
    """A 336 x 448 image in 224 px windows every 112 px: 2 x 3 windows, the last shifted back inside."""
    boxes = base.windows((336, 448), 224, 112)
    assert len(boxes) == 6
    assert boxes[0] == (0, 224, 0, 224) and boxes[-1] == (112, 336, 224, 448)
    assert base.windows((64, 64), 224, 112) == [(0, 64, 0, 64)]  # smaller than a window: one pass
    assert base.windows((50, 70), None, 112) == [(0, 50, 0, 70)]


def test_window_logits_average_where_windows_overlap() -> None:
    ones, zeros = torch.tensor([[1.0, 0.0]]).repeat(4, 1), torch.tensor([[0.0, 1.0]]).repeat(4, 1)
    feats = base.DenseFeatures(windows=((0, 2, 0, 2), (0, 2, 1, 3)), features=(ones, zeros),
                               grids=((2, 2), (2, 2)), size=(2, 3))
    text = torch.tensor([[1.0, 0.0]])
    out = base.window_logits(feats, text)  # window 1 scores 1, window 2 scores 0: the shared column 0.5
    assert torch.allclose(out, torch.tensor([[[1.0, 0.5, 0.0], [1.0, 0.5, 0.0]]]))


def test_protocol_resize_sets_the_short_side() -> None:
    image = np.zeros((375, 500, 3), np.uint8)
    assert base.protocol_image(image, 336, None).shape == (336, 448, 3)  # VOC: 500 x 375 -> 448 x 336
    assert base.protocol_image(np.zeros((10, 4000, 3), np.uint8), 336, None).shape[1] == 2048  # the long-side cap
    assert base.protocol_image(image, None, 250).shape == (188, 250, 3)  # no short side: the working size rule


def test_pamr_on_a_flat_image_averages_the_eight_neighbours() -> None:
    image = np.full((5, 5, 3), 100, np.uint8)  # no colour edges: every neighbour weighs 1/8
    delta = torch.zeros(1, 5, 5)
    delta[0, 2, 2] = 1.0
    out = base.pamr(image, delta, steps=1, dilations=(1,))
    want = torch.zeros(5, 5)
    want[1:4, 1:4] = 1 / 8
    want[2, 2] = 0.0
    assert torch.allclose(out[0], want, atol=1e-6)


def test_pamr_does_not_cross_a_colour_edge() -> None:
    image = np.zeros((6, 6, 3), np.uint8)
    image[:, 3:] = 255  # left black, right white
    left = torch.zeros(1, 6, 6)
    left[0, :, :3] = 1.0
    out = base.pamr(image, left, steps=5, dilations=(1,))
    assert float(out[0, :, 3:].max()) < 1e-3 and float(out[0, :, :3].min()) > 0.99


def test_decision_with_a_probability_threshold() -> None:
    # 2 queries + 1 background word on 1 x 3 pixels: query 0 sure, background wins, query 1 unsure
    logits = torch.tensor([[[1.0, 0.0, 0.30]], [[0.0, 0.0, 0.31]], [[0.0, 1.0, 0.30]]])
    labels, probs = base.decide(logits, 2, logit_scale=10.0, prob_thd=0.4)
    assert labels.tolist() == [[0, -1, -1]]  # pixel 3: query 1 wins with p ~ 0.36 < 0.4
    assert base.decide(logits, 2, 10.0, 0.0)[0].tolist() == [[0, -1, 1]]
    assert probs.shape == (2, 1, 3)


def test_peer_segmenter_runs_alone(clip_deep) -> None:
    seg = peers.PeerSegmenter("naclip", clip_deep, CaRConfig(dense_templates="cam", background=("clipes",),
                                                             working_size=None, pamr=True, pamr_steps=2))
    r = seg(_image(3), ["cat", "dog"])
    assert r.labels.shape == (48, 64) and r.masks.shape == (2, 48, 64) and r.probs.shape == (2, 48, 64)
    assert set(np.unique(r.labels)) <= {-1, 0, 1}
    with pytest.raises(ValueError, match="unknown single-pass method 'nope'; valid: maskclip"):
        peers.PeerSegmenter("nope", clip_deep)


# --------------------------------------------------------------------------- evaluation: methods and synonyms
def test_synonyms_are_queries_and_a_class_wins_where_one_of_its_names_does() -> None:
    from types import SimpleNamespace

    from car.adapters import make_predictor

    ds = SimpleNamespace(kind="semantic", name="fake", class_names=["person", "tv"], stuff=None,
                         has_background=True, ignore_index=255)
    seen = []

    def model(image, queries, stuff=None):
        seen.append(list(queries))
        return SimpleNamespace(labels=np.array([[0, 1, 2, -1]]))  # name 0, 1 (person), 2 (tv), background

    predict = make_predictor(model, ds, names=[["person", "person in shirt"], ["tv monitor"]])
    out = predict(SimpleNamespace(image=np.zeros((1, 4, 3), np.uint8)))
    assert seen == [["person", "person in shirt", "tv monitor"]] and out.tolist() == [[1, 1, 2, 0]]
    with pytest.raises(ValueError, match="the class-name file has 1 classes"):
        make_predictor(model, ds, names=[["person"]])


def test_evaluate_runs_a_peer_and_car_over_its_maps_on_a_toy_split(tmp_path) -> None:
    from car.evaluate import run_config

    cfg = load_toy_voc()
    alone = run_config(cfg, out=tmp_path / "naclip.json", limit=2, progress=False, device="cpu", method="naclip")
    over = run_config(cfg.replace(proposer="naclip"), out=tmp_path / "car.json", limit=2, progress=False,
                      device="cpu")
    assert alone["method"] == "naclip" and over["method"] == "car" and over["config"]["proposer"] == "naclip"
    assert 0.0 <= alone["metrics"]["mIoU"] <= 1.0 and 0.0 <= over["metrics"]["mIoU"] <= 1.0
    with pytest.raises(ValueError, match="unknown method 'nacl'; valid: car, maskclip"):
        run_config(cfg, out=tmp_path / "x.json", limit=1, progress=False, device="cpu", method="nacl")


def load_toy_voc():
    from car.config import load_config

    return load_config("toy_voc")


def test_the_command_line_offers_every_method_and_proposer() -> None:
    from car import cli, evaluate

    assert cli.METHODS == evaluate.METHODS == ("car", *peers.list_peers())
    args = cli.build_parser().parse_args(["evaluate", "--config", "toy_voc", "--method", "car", "--proposer",
                                          "sclip"])
    assert (args.method, args.proposer) == ("car", "sclip")
    assert cli.main(["evaluate", "--config", "toy_voc", "--method", "sclip", "--proposer", "caa"]) == 2
