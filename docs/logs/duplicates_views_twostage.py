"""Two-stage embedding judge, an experiment (issue 36): a cheap embedding per image proposes candidate
pairs (FAISS k nearest neighbours), and a rotation-searched correlation of small grey discs (stage 2,
below; no network) checks the candidates only. Side by side with today's 16-view judge.
Run from the repository root (output in docs/logs/duplicates_views_twostage.log):

    mkdir -p /tmp/fgclass_twostage; R="flock /tmp/fgclass_cpu.lock nice -n 10 env PYTHONPATH=. .venv/bin/python docs/logs/duplicates_views_twostage.py"
    $R fish [stage1 ...]      # the protocol of docs/logs/duplicates_views_*.py, each stage-1 view, k = 5-30
    $R fish_aspect            # the same with the sample's 590x445 -> 256x256 squash undone (needs the fish run)
    $R butterfly_full polarx128 v1_128   # pairs vs today's (its 16-view embeddings from .cache/fgclass)
    $R timing [orb]           # today's judge vs the two-stage judge, side by side on the fish sample
    $R butterfly_groups       # today's judge on the full butterfly set: groups that mix species
    $R butterfly_cross        # its cross-species pairs side by side, for the eye
    $R monarch                # stage 2 on the test suite's zoomed monarch copies
    $R orb_fish | orb_monarch | orb_butterfly_full   # stage 2 by ORB keypoints + affine RANSAC instead
    $R shift                  # a shift search on the fish pairs (needs the fish run)
"""
import os, sys, time
import cv2, faiss, numpy as np, torch
from benchmarks.validate_near_duplicates import judge_similarity, leak
from fgclass.data.duplicates import group_near_duplicates, join_groups
from fgclass.data.embeddings import views
from fgclass.data.images import load_rgb
from fgclass.data.scan import scan_images
from fgclass.data.sources import find_butterfly_images, find_fish_images
from fgclass.data.splits import SplitConfig, assign_splits
from fgclass.errors import DataError
from fgclass.models.classifier import normalize
from fgclass.models.features import _network, packaged_lite0_features

# --- stage 2: rotation-searched correlation of candidate pairs (no network) ---------------------
SIDE = 64  # thumbnail side, px
ANGLES = tuple(range(0, 360, 3))
_CENTRE = ((SIDE - 1) / 2, (SIDE - 1) / 2)
_Y, _X = np.mgrid[:SIDE, :SIDE] - (SIDE - 1) / 2
_DISC = _X**2 + _Y**2 <= (SIDE / 2 - 2) ** 2  # inside the corners any rotation brings in
_TURNS = [cv2.getRotationMatrix2D(_CENTRE, angle, 1.0) for angle in ANGLES]


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """The grey central square of an RGB ``uint8`` image at ``SIDE`` px, ``uint8 (SIDE, SIDE)``."""
    height, width = rgb.shape[:2]
    crop = min(height, width)
    top, left = (height - crop) // 2, (width - crop) // 2
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[top : top + crop, left : left + crop]), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (SIDE, SIDE), interpolation=cv2.INTER_AREA)


def _unit_discs(images: np.ndarray) -> np.ndarray:
    """The disc pixels of each image ``(..., SIDE, SIDE)``, mean removed, unit length: ``(..., D)``."""
    values = images[..., _DISC].astype(np.float32)
    values -= values.mean(axis=-1, keepdims=True)
    return values / (np.linalg.norm(values, axis=-1, keepdims=True) + 1e-6)


def _turned(thumb: np.ndarray) -> np.ndarray:
    """Unit discs of ``thumb`` turned by each of :data:`ANGLES`, as is and mirrored: ``(2A, D)``."""
    source = thumb.astype(np.float32)
    return _unit_discs(
        np.stack(
            [
                cv2.warpAffine(image, turn, (SIDE, SIDE))
                for image in (source, source[:, ::-1].copy())
                for turn in _TURNS
            ]
        )
    )


def best_correlation(thumbs: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Best correlation of each pair ``(i, j)`` of ``pairs`` (``(P, 2)`` indices into ``thumbs``,
    ``(N, SIDE, SIDE)``) over :data:`ANGLES` and mirroring: ``float32 (P,)``.

    Each image's turned discs are built once, for the image of each pair that has more partners,
    and compared with its partners' upright discs in one matrix product."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    best = np.zeros(len(pairs), np.float32)
    if not len(pairs):
        return best
    partners = np.bincount(pairs.ravel(), minlength=len(thumbs))
    swap = partners[pairs[:, 1]] < partners[pairs[:, 0]]
    turned_side = np.where(swap, pairs[:, 0], pairs[:, 1])
    upright_side = np.where(swap, pairs[:, 1], pairs[:, 0])
    order = np.argsort(turned_side, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(turned_side[order]) != 0])
    for rows in np.split(order, starts[1:]):
        turned = _turned(thumbs[turned_side[rows[0]]])
        best[rows] = (_unit_discs(thumbs[upright_side[rows]]) @ turned.T).max(axis=1)
    return best


# --- stage 1 and the protocol ----------------------------------------------------------------------
torch.set_num_threads(2)
cv2.setNumThreads(2)
faiss.omp_set_num_threads(2)
OUT = "/tmp/fgclass_twostage"
feat = packaged_lite0_features()
model, mean, std = _network("timm/efficientnet_lite0")


def polar_x(rgb, side, angles, radii, pad):
    """The central disc unrolled: columns = angle (a turn is a circular shift of columns, a mirror a
    left-right flip, which ImageNet features barely see), rows = radius; circular padding of columns."""
    h, w = rgb.shape[:2]; s = min(h, w); t, l = (h - s) // 2, (w - s) // 2
    sq = cv2.resize(rgb[t:t + s, l:l + s], (side, side), interpolation=cv2.INTER_AREA)
    p = cv2.warpPolar(sq, (radii, angles), ((side - 1) / 2, (side - 1) / 2), side / 2, cv2.WARP_POLAR_LINEAR)
    p = np.ascontiguousarray(p.transpose(1, 0, 2)[::-1])  # (radii, angles, 3), centre at the bottom
    return np.concatenate([p[:, -pad:], p, p[:, :pad]], axis=1) if pad else p


@torch.inference_mode()
def embed(rgbs, make, cut=0, batch=8):
    out = []
    for i in range(0, len(rgbs), batch):
        chunk = [make(r) for r in rgbs[i:i + batch]]
        v = torch.from_numpy(np.concatenate(chunk)).permute(0, 3, 1, 2).contiguous()
        if cut:  # pool the feature map without its padded columns
            fmap = model.forward_features(normalize(v, mean, std))
            f = fmap[:, :, :, cut:fmap.shape[3] - cut].mean((2, 3))
        else:
            f = feat(v)
        f = torch.nn.functional.normalize(f.float(), dim=1)
        f = torch.nn.functional.normalize(f.view(len(chunk), -1, f.shape[1]).mean(1), dim=1)
        out.append(f.numpy())
    return np.concatenate(out)


def full_set(which, k=20, subset=300):
    """The full butterfly set: two-stage pairs vs today's (its 16-view embeddings read from the cache;
    today's cost timed on the first `subset` images with no cache, side by side)."""
    import hashlib
    from fgclass.data.embeddings import ANGLES, MIRROR, SIDE, _VERSION, image_embeddings, similar_pairs
    images = find_butterfly_images("../shared/data/butterfly_full"); labels = np.array(images.labels); n = len(labels)
    scan = scan_images(images.root, images.paths, None); digests = [r.digest for r in scan.records]
    key = hashlib.sha1(f"{_VERSION}:{SIDE}:{ANGLES}:{MIRROR}:{feat.name}".encode())
    for d in digests: key.update(d.encode())
    today = np.load(f".cache/fgclass/embeddings-{key.hexdigest()[:20]}.npy")
    hg = group_near_duplicates(scan.hashes, 40)
    t0 = time.perf_counter(); image_embeddings(images.root, images.paths[:subset], digests[:subset], feat, None)
    t_today = (time.perf_counter() - t0) / subset
    tp = similar_pairs(today, 0.94)
    def regrouped(pairs):
        g = join_groups(hg, pairs); return int((np.bincount(g)[g] > 1).sum() - (np.bincount(hg)[hg] > 1).sum())
    print(f"butterfly_full: {n} images; today's 16-view judge: {1000 * t_today:.1f} ms/img (first {subset} images, no cache); "
          f"{len(tp)} pairs at cosine >= 0.94, {sum(labels[i] != labels[j] for i, j, _ in tp)} across species, "
          f"{regrouped(tp)} images join a group beyond the hash groups", flush=True)
    tps = {(i, j) for i, j, _ in tp}
    for cfg in which:
        make, cut = STAGE1[cfg]
        t0 = time.perf_counter()
        rgbs = [load_rgb(images.root / p) for p in images.paths]
        thumbs = np.stack([thumbnail(r) for r in rgbs]); t_dec = time.perf_counter() - t0
        e = embed(rgbs, make, cut); del rgbs; t1 = time.perf_counter() - t0 - t_dec
        index = faiss.IndexFlatIP(e.shape[1]); index.add(e)
        _, nn = index.search(e, k + 1)
        cand = np.sort(np.stack([np.repeat(np.arange(n), k + 1), nn.ravel()], 1), 1)
        cand = np.unique(cand[(cand[:, 0] < cand[:, 1])], axis=0)
        corr = best_correlation(thumbs, cand); t2 = time.perf_counter() - t0 - t_dec - t1
        tot = (t_dec + t1 + t2) / n
        print(f"{cfg}, k={k}: decode+thumbnails {1000 * t_dec / n:.1f}, stage 1 {1000 * t1 / n:.1f}, stage 2 {1000 * t2 / n:.1f} ms/img "
              f"= {tot / t_today:.3f} of today; {len(cand)} candidates, {len(tps & set(map(tuple, cand.tolist())))} of today's {len(tp)} pairs among them", flush=True)
        cos = np.einsum("ij,ij->i", e[cand[:, 0]], e[cand[:, 1]])
        for t in (0.85, 0.88, 0.9):
            keep = cand[corr >= t]; pairs = [(int(i), int(j), 0) for i, j in keep]
            print(f"   corr>={t}: {len(keep)} pairs ({len(tps & set(map(tuple, keep.tolist())))} also today's), "
                  f"{int((labels[keep[:, 0]] != labels[keep[:, 1]]).sum())} across species, {regrouped(pairs)} images regrouped", flush=True)
        for t in (0.95, 0.97):
            keep = cand[(corr >= 0.9) | (cos >= t)]; pairs = [(int(i), int(j), 0) for i, j in keep]
            print(f"   corr>=0.9 or stage-1 cosine>={t}: {len(keep)} pairs ({len(tps & set(map(tuple, keep.tolist())))} also today's), "
                  f"{int((labels[keep[:, 0]] != labels[keep[:, 1]]).sum())} across species, {regrouped(pairs)} images regrouped", flush=True)


def aspect_check(k=20):
    """The fish sample was resized from 590x445 to 256x256, so a copy turned before that resize is
    turned *and* squashed: undo the squash (both images stretched alike by 590/445, or 445/590) before
    the rotation search. Reference judge: the rotation search at aspect 1 or 590/445, >= 0.9, same class."""
    images = find_fish_images("../shared/data/fish"); labels = np.array(images.labels); n = len(labels)
    grey = [cv2.cvtColor(load_rgb(images.root / p), cv2.COLOR_RGB2GRAY) for p in images.paths]
    def thumbs_at(aspect):
        return np.stack([thumbnail(cv2.cvtColor(cv2.resize(g, (round(g.shape[1] * aspect), g.shape[0]), interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2RGB)) for g in grey])
    aspects = (1.0, 590 / 445, 445 / 590)
    th = {a: thumbs_at(a) for a in aspects}
    judge = np.load(f"{OUT}/fish_judge.npy"); jt = np.triu(judge, 1)
    today = np.load(f"{OUT}/fish_today_16v160.npy"); tl = (today @ today.T) >= 0.94; np.fill_diagonal(tl, False)
    hg = group_near_duplicates(scan_images(images.root, images.paths).hashes, 40)
    same = labels[:, None] == labels[None, :]
    sp = np.argwhere(np.triu(same, 1))
    ref = np.zeros((n, n), bool)
    ref[sp[:, 0], sp[:, 1]] = np.maximum(best_correlation(th[1.0], sp), best_correlation(th[aspects[1]], sp)) >= 0.9
    ref |= ref.T
    def leaks(groups, copies):
        lk = [leak(assign_splits(labels, groups, SplitConfig(seed=s)), copies) for s in range(10)]
        return f"{100 * np.mean(lk):.1f} % / {100 * max(lk):.1f} %"
    rt = np.triu(ref, 1)
    print(f"fish, reference judge with the squash undone: {int(rt.sum())} copy pairs ({int((rt & jt).sum())} of the plain judge's {int(jt.sum())}, "
          f"{int((rt & np.triu(tl, 1)).sum())} of today's {int(np.triu(tl, 1).sum())} links); "
          f"leak by it: hashes only {leaks(hg, ref)}, today's judge {leaks(join_groups(hg, [(int(i), int(j), 0) for i, j in np.argwhere(np.triu(tl, 1))]), ref)}", flush=True)
    e = np.load(f"{OUT}/fish_polarx128.npy")
    index = faiss.IndexFlatIP(e.shape[1]); index.add(e)
    _, nn = index.search(e, k + 1)
    cand = np.sort(np.stack([np.repeat(np.arange(n), k + 1), nn.ravel()], 1), 1)
    cand = np.unique(cand[(cand[:, 0] < cand[:, 1])], axis=0)
    print(f"polarx128 k={k}: {len(cand)} candidates, {int(rt[cand[:, 0], cand[:, 1]].sum())} of the reference's pairs", flush=True)
    for used in ((1.0,), aspects[:2], aspects):
        t0 = time.perf_counter(); corr = np.max([best_correlation(th[a], cand) for a in used], axis=0); t2 = (time.perf_counter() - t0) / n
        for t in (0.9, 0.92, 0.94):
            keep = cand[corr >= t]; g = join_groups(hg, [(int(i), int(j), 0) for i, j in keep])
            print(f"   aspects {tuple(round(a, 3) for a in used)}, corr>={t}: {len(keep)} links, {int((labels[keep[:, 0]] != labels[keep[:, 1]]).sum())} across species "
                  f"(max {corr[labels[cand[:, 0]] != labels[cand[:, 1]]].max():.3f}), largest {np.bincount(g).max()}; leak by judge {leaks(g, judge)}, "
                  f"by the reference {leaks(g, ref)}, by today's links {leaks(g, tl)}; stage 2 {1000 * t2:.1f} ms/img", flush=True)


def timing(k=20, chunk=25, by_orb=False):
    """Side by side on the fish sample, in alternating chunks of images (the machine is shared): today's
    judge (decode + 16 views) against the two-stage judge (decode + thumbnail + polar view), then the
    two-stage judge's neighbour search and stage 2 on all images."""
    images = find_fish_images("../shared/data/fish"); n = len(images.paths)
    orb, matcher = cv2.ORB_create(nfeatures=300), cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
    t_today = t_two = 0.0; es, ths = [], []
    for first in range(0, n, chunk):
        part = images.paths[first:first + chunk]
        t0 = time.perf_counter(); embed([load_rgb(images.root / p) for p in part], *STAGE1["today_16v160"]); t_today += time.perf_counter() - t0
        t0 = time.perf_counter(); rgbs = [load_rgb(images.root / p) for p in part]
        if by_orb:
            ths.extend(orb_features(r, orb) for r in rgbs)
        else:
            ths.append(np.stack([thumbnail(r) for r in rgbs]))
        es.append(embed(rgbs, *STAGE1["polarx128"])); t_two += time.perf_counter() - t0
    e, thumbs = np.concatenate(es), (ths if by_orb else np.concatenate(ths))
    t0 = time.perf_counter()
    index = faiss.IndexFlatIP(e.shape[1]); index.add(e)
    _, nn = index.search(e, k + 1)
    cand = np.sort(np.stack([np.repeat(np.arange(n), k + 1), nn.ravel()], 1), 1)
    cand = np.unique(cand[(cand[:, 0] < cand[:, 1])], axis=0)
    if by_orb:
        [orb_inliers(thumbs[i], thumbs[j], matcher) for i, j in cand]
    else:
        best_correlation(thumbs, cand)
    t_two2 = time.perf_counter() - t0
    total = t_two + t_two2
    print(f"fish sample, {n} images, stage 2 by {'ORB' if by_orb else 'correlation'}: today's judge {1000 * t_today / n:.1f} ms/img; two-stage: decode+thumbnail+polar view "
          f"{1000 * t_two / n:.1f}, neighbours+stage 2 ({len(cand)} candidate pairs) {1000 * t_two2 / n:.1f}, total {1000 * total / n:.1f} ms/img "
          f"= {total / t_today:.3f} of today's", flush=True)


def butterfly_groups():
    """Today's judge on the full butterfly set, from its cached 16-view embeddings: groups that mix species."""
    import hashlib
    from fgclass.data.embeddings import ANGLES as V_ANGLES, MIRROR, SIDE as V_SIDE, _VERSION, similar_pairs
    images = find_butterfly_images("../shared/data/butterfly_full"); labels = np.array(images.labels)
    scan = scan_images(images.root, images.paths, None); digests = [r.digest for r in scan.records]
    key = hashlib.sha1(f"{_VERSION}:{V_SIDE}:{V_ANGLES}:{MIRROR}:timm/efficientnet_lite0".encode())
    for d in digests: key.update(d.encode())
    today = np.load(f".cache/fgclass/embeddings-{key.hexdigest()[:20]}.npy")
    hg = group_near_duplicates(scan.hashes, 40)
    for t in (0.94, 0.96, 0.97, 0.98):
        p = similar_pairs(today, t); g = join_groups(hg, p); sizes = np.bincount(g)
        mixed = sum(len(set(labels[g == k])) > 1 for k in np.flatnonzero(sizes > 1))
        print(f"today's judge at {t}: {len(p)} pairs, {sum(labels[i] != labels[j] for i, j, _ in p)} across species, largest group {sizes.max()}, "
              f"{mixed} groups mix species, {int((sizes[g] > 1).sum())} images in groups of 2+ (hashes alone: {int((np.bincount(hg)[hg] > 1).sum())})")


def butterfly_cross():
    """Cross-species pairs of today's judge on the full butterfly set, side by side for the eye: the
    first 11 at cosine >= 0.97 and 12 at random in [0.94, 0.96) (/tmp/fgclass_twostage/butterfly_cross_*.png)."""
    import hashlib
    from fgclass.data.embeddings import ANGLES as V_ANGLES, MIRROR, SIDE as V_SIDE, _VERSION, similar_pairs
    images = find_butterfly_images("../shared/data/butterfly_full"); labels = np.array(images.labels)
    digests = [r.digest for r in scan_images(images.root, images.paths, None).records]
    key = hashlib.sha1(f"{_VERSION}:{V_SIDE}:{V_ANGLES}:{MIRROR}:timm/efficientnet_lite0".encode())
    for d in digests: key.update(d.encode())
    e = np.load(f".cache/fgclass/embeddings-{key.hexdigest()[:20]}.npy")
    high = [(i, j) for i, j, _ in similar_pairs(e, 0.97) if labels[i] != labels[j]][:11]
    low = [(i, j) for i, j, _ in similar_pairs(e, 0.94) if labels[i] != labels[j] and e[i] @ e[j] < 0.96]
    low = [low[k] for k in np.random.default_rng(0).choice(len(low), 12, replace=False)]
    for tag, pairs in (("high", high), ("low", low)):
        rows = []
        for i, j in pairs:
            print(f"{tag} {e[i] @ e[j]:.3f} {images.paths[i]} {labels[i]} | {images.paths[j]} {labels[j]}")
            rows.append(np.concatenate([cv2.resize(load_rgb(images.root / images.paths[k]), (128, 128)) for k in (i, j)], 1))
        while len(rows) % 4: rows.append(np.zeros_like(rows[0]))
        sheet = np.concatenate([np.concatenate(rows[r:r + 4], 1) for r in range(0, len(rows), 4)], 0)
        cv2.imwrite(f"{OUT}/butterfly_cross_{tag}.png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def orb_features(rgb, orb, side=192):
    """ORB keypoints of the grey image (longer side `side` px), as is and mirrored: [(points, descriptors)] x 2."""
    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY); h, w = g.shape; f = side / max(h, w)
    g = cv2.resize(g, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    out = []
    for im in (g, g[:, ::-1].copy()):
        kp, d = orb.detectAndCompute(im, None)
        out.append((np.float32([k.pt for k in kp]), d))
    return out


def orb_inliers(fi, fj, matcher, max_zoom=1.7):
    """Stage 2 by features: the most RANSAC inliers of an affine map from i's ORB keypoints to j's (as is or
    mirrored); maps that zoom by more than `max_zoom` either way do not count."""
    best = 0; pi, di = fi[0]
    for pj, dj in fj:
        if di is None or dj is None or len(di) < 8 or len(dj) < 8: continue
        m = matcher.match(di, dj)
        if len(m) < 8: continue
        M, inl = cv2.estimateAffine2D(pi[[x.queryIdx for x in m]], pj[[x.trainIdx for x in m]], method=cv2.RANSAC, ransacReprojThreshold=3.0)
        if M is None: continue
        sv = np.linalg.svd(M[:, :2], compute_uv=False)
        if sv.max() > max_zoom or sv.min() < 1 / max_zoom: continue
        best = max(best, int(inl.sum()))
    return best


def orb_check(name, k=20):
    """Stage 2 by ORB + affine RANSAC on polarx128's k nearest neighbours: the fish sample (protocol, and
    the squash-undone reference), the monarch copies, or the full butterfly set (vs today's pairs)."""
    from fgclass.errors import DataError as _DE
    orb, matcher = cv2.ORB_create(nfeatures=300), cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
    if name == "monarch":
        import itertools
        def turn(image, angle, zoom=1.0):
            h, w = image.shape[:2]; return cv2.warpAffine(image, cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, zoom), (w, h))
        image = cv2.cvtColor(cv2.imread("tests/data/monarch.jpg"), cv2.COLOR_BGR2RGB); h, w = image.shape[:2]
        pics = {"rot37_zoom": turn(image, 37, 1.2), "mirror_rot113_zoom": turn(np.ascontiguousarray(image[:, ::-1]), 113, 1.2), "rot30": turn(image, 30)}
        for q, (t, l) in enumerate(itertools.product((0, h // 2), (0, w // 2))):
            pics[f"quadrant{q}"] = cv2.resize(image[t:t + h // 2, l:l + w // 2], (w, h))
        fo = orb_features(image, orb)
        for nm, pic in pics.items(): print(f"monarch orig vs {nm}: {orb_inliers(fo, orb_features(pic, orb), matcher)} inliers")
        return
    full = name == "butterfly_full"
    images = (find_butterfly_images if full else find_fish_images)(f"../shared/data/{name}"); labels = np.array(images.labels); n = len(labels)
    scan = scan_images(images.root, images.paths, None); hg = group_near_duplicates(scan.hashes, 40)
    t0 = time.perf_counter(); rgbs = [load_rgb(images.root / p) for p in images.paths]
    F = [orb_features(r, orb) for r in rgbs]; t_f = time.perf_counter() - t0
    if full:
        t0 = time.perf_counter(); e = embed(rgbs, *STAGE1["polarx128"]); t_e = time.perf_counter() - t0
    else:
        e = np.load(f"{OUT}/fish_polarx128.npy"); t_e = float("nan")
    del rgbs
    index = faiss.IndexFlatIP(e.shape[1]); index.add(e); _, nn = index.search(e, k + 1)
    cand = np.sort(np.stack([np.repeat(np.arange(n), k + 1), nn.ravel()], 1), 1); cand = np.unique(cand[cand[:, 0] < cand[:, 1]], axis=0)
    t0 = time.perf_counter(); inl = np.array([orb_inliers(F[i], F[j], matcher) for i, j in cand]); t_m = time.perf_counter() - t0
    cross = labels[cand[:, 0]] != labels[cand[:, 1]]
    print(f"{name}: decode + ORB {1000 * t_f / n:.1f} ms/img, polar view {1000 * t_e / n:.1f}, matching {1000 * t_m / n:.1f} ms/img over {len(cand)} candidates; "
          f"inliers across species: max {inl[cross].max()}, p99 {np.percentile(inl[cross], 99):.0f}", flush=True)
    if full:
        import hashlib
        from fgclass.data.embeddings import ANGLES as V_ANGLES, MIRROR, SIDE as V_SIDE, _VERSION, similar_pairs
        key = hashlib.sha1(f"{_VERSION}:{V_SIDE}:{V_ANGLES}:{MIRROR}:timm/efficientnet_lite0".encode())
        for r in scan.records: key.update(r.digest.encode())
        today = np.load(f".cache/fgclass/embeddings-{key.hexdigest()[:20]}.npy")
        tp = {(i, j) for i, j, _ in similar_pairs(today, 0.94)}
        conflicts = {(i, j) for i, j, _ in similar_pairs(today, 0.97) if labels[i] != labels[j]}
        base = int((np.bincount(hg)[hg] > 1).sum())
        for t in (15, 20, 30):
            keep = cand[inl >= t]; kp = set(map(tuple, keep.tolist())); g = join_groups(hg, [(int(i), int(j), 0) for i, j in keep])
            print(f"   inliers>={t}: {len(keep)} pairs ({len(kp & tp)} also today's), {int((labels[keep[:, 0]] != labels[keep[:, 1]]).sum())} across species "
                  f"({len(kp & conflicts)} of today's {len(conflicts)} cross-species pairs at cosine >= 0.97), largest group {np.bincount(g).max()}, "
                  f"{int((np.bincount(g)[g] > 1).sum()) - base} images regrouped", flush=True)
        return
    judge = np.load(f"{OUT}/fish_judge.npy"); today = np.load(f"{OUT}/fish_today_16v160.npy"); tl = today @ today.T >= 0.94; np.fill_diagonal(tl, False)
    grey = [cv2.cvtColor(load_rgb(images.root / p), cv2.COLOR_RGB2GRAY) for p in images.paths]
    def thumbs_at(aspect):
        return np.stack([thumbnail(cv2.cvtColor(cv2.resize(g, (round(g.shape[1] * aspect), g.shape[0]), interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2RGB)) for g in grey])
    sp = np.argwhere(np.triu(labels[:, None] == labels[None, :], 1)); ref = np.zeros((n, n), bool)
    ref[sp[:, 0], sp[:, 1]] = np.maximum(best_correlation(thumbs_at(1.0), sp), best_correlation(thumbs_at(590 / 445), sp)) >= 0.9; ref |= ref.T
    def leaks(groups, copies):
        try:
            lk = [leak(assign_splits(labels, groups, SplitConfig(seed=s)), copies) for s in range(10)]
            return f"{100 * np.mean(lk):.1f} % / {100 * max(lk):.1f} %"
        except _DE:
            return "no split"
    for t in (12, 15, 20, 30, 40):
        keep = cand[inl >= t]; g = join_groups(hg, [(int(i), int(j), 0) for i, j in keep])
        print(f"   inliers>={t}: {len(keep)} links, {int((labels[keep[:, 0]] != labels[keep[:, 1]]).sum())} across species, largest {np.bincount(g).max()}, "
              f"leak by judge {leaks(g, judge)}, by the squash-undone reference {leaks(g, ref)}, by today's links {leaks(g, tl)}", flush=True)


def monarch():
    """Stage 2 on the test suite's monarch copies (tests/test_near_duplicates.py: turned, mirrored, zoomed by 1.2) and quadrants."""
    import itertools
    def turn(image, angle, zoom=1.0):
        h, w = image.shape[:2]; return cv2.warpAffine(image, cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, zoom), (w, h))
    image = cv2.imread("tests/data/monarch.jpg"); h, w = image.shape[:2]
    pics = {"orig": image, "rot37_zoom": turn(image, 37, 1.2), "mirror_rot113_zoom": turn(np.ascontiguousarray(image[:, ::-1]), 113, 1.2),
            "rot30": turn(image, 30), "mirror_rot30": turn(np.ascontiguousarray(image[:, ::-1]), 30)}
    for k, (t, l) in enumerate(itertools.product((0, h // 2), (0, w // 2))):
        pics[f"quadrant{k}"] = cv2.resize(image[t:t + h // 2, l:l + w // 2], (w, h))
    names = list(pics); th = np.stack([thumbnail(cv2.cvtColor(pics[n], cv2.COLOR_BGR2RGB)) for n in names])
    pairs = np.array([(0, j) for j in range(1, len(names))])
    for (i, j), c in zip(pairs, best_correlation(th, pairs)): print(f"orig vs {names[j]}: {c:.3f}")


def shift():
    """A shift search on the fish sample: cv2.matchTemplate of one disc's centre (+-14 px) at every angle."""
    images = find_fish_images("../shared/data/fish"); labels = np.array(images.labels)
    thumbs = np.stack([thumbnail(load_rgb(images.root / p)) for p in images.paths]).astype(np.float32)
    judge = np.load(f"{OUT}/fish_judge.npy"); e = np.load(f"{OUT}/fish_today_16v160.npy")
    s = e @ e.T; same = labels[:, None] == labels[None, :]
    def top(m, k): a = np.argwhere(m); return a[np.argsort(-s[a[:, 0], a[:, 1]])[:k]]
    sets = {"today-only": np.argwhere(np.triu(s >= 0.94, 1) & ~judge), "judge": top(np.triu(judge, 1), 400)[::4],
            "other same-class": top(np.triu(same & ~judge & (s < 0.94), 1), 100), "cross": top(np.triu(~same, 1), 100)}
    M = 14
    def score(i, j, step):
        tpl = thumbs[i][M:-M, M:-M]; best = -1
        for im in (thumbs[j], thumbs[j][:, ::-1].copy()):
            for a in range(0, 360, step):
                r = cv2.warpAffine(im, cv2.getRotationMatrix2D(_CENTRE, a, 1.0), (SIDE, SIDE))
                best = max(best, cv2.matchTemplate(r, tpl, cv2.TM_CCOEFF_NORMED).max())
        return best
    for step in (3, 6):
        for nm, pairs in sets.items():
            t0 = time.perf_counter(); c = np.array([score(i, j, step) for i, j in pairs]); t = (time.perf_counter() - t0) / len(pairs)
            print(f"step {step}: {nm}: {len(pairs)} pairs, shift-searched corr pct 0/5/50/95/100 {np.percentile(c, [0, 5, 50, 95, 100]).round(3)}; {1000 * t:.1f} ms/pair", flush=True)


STAGE1 = {  # name: (views of one image, feature-map columns cut per side)
    "today_16v160": (lambda r: views(r), 0),
    "v1_160": (lambda r: views(r, 160, (0,), False), 0),
    "v1_128": (lambda r: views(r, 128, (0,), False), 0),
    "v1_96": (lambda r: views(r, 96, (0,), False), 0),
    "polarx128": (lambda r: polar_x(r, 128, 192, 64, 64)[None], 2),
    "polarx96": (lambda r: polar_x(r, 96, 160, 48, 64)[None], 2),
}

name = sys.argv[1]; which = sys.argv[2:] or [k for k in STAGE1 if k != "today_16v160"]
if name.startswith("orb_"):
    orb_check(name[4:])
    sys.exit()
if name in ("butterfly_groups", "butterfly_cross", "monarch", "shift"):
    globals()[name]()
    sys.exit()
if name == "timing":
    timing(by_orb=sys.argv[2:] == ["orb"])
    sys.exit()
if name == "fish_aspect":
    aspect_check()
    sys.exit()
if name == "butterfly_full":
    full_set(which)
    sys.exit()
images = (find_fish_images if name == "fish" else find_butterfly_images)(f"../shared/data/{name}")
labels = np.array(images.labels); n = len(labels)
paths = [str(images.root / p) for p in images.paths]
jf = f"{OUT}/{name}_judge.npy"
if os.path.exists(jf): judge = np.load(jf)
else: judge = judge_similarity(paths, labels) >= 0.9; np.save(jf, judge)
hashes = scan_images(images.root, images.paths).hashes
hg = group_near_duplicates(hashes, 40)
same = labels[:, None] == labels[None, :]; jt = np.triu(judge, 1)
seeds = range(10)
def leaks(groups, copies):
    try:
        lk = [leak(assign_splits(labels, groups, SplitConfig(seed=s)), copies) for s in seeds]
        return f"{100 * np.mean(lk):.1f} % / {100 * max(lk):.1f} %"
    except DataError:
        return "no split"
print(f"{name}: {n} images, judge pairs {int(jt.sum())}, hash-only leak (mean / worst) {leaks(hg, judge)}", flush=True)
t0 = time.perf_counter(); rgbs = [load_rgb(p) for p in paths]; dec = time.perf_counter() - t0
t0 = time.perf_counter(); thumbs = np.stack([thumbnail(r) for r in rgbs]); th = time.perf_counter() - t0
print(f"decode {1000 * dec / n:.1f} ms/img, thumbnails {1000 * th / n:.2f} ms/img", flush=True)

# today's judge: 16 views, cosine >= 0.94 (timed here too, side by side)
tf = f"{OUT}/{name}_today_16v160.npy"
t0 = time.perf_counter(); today = embed(rgbs, *STAGE1["today_16v160"]); t_today = (time.perf_counter() - t0) / n
np.save(tf, today)
ts = today @ today.T; today_links = np.triu(ts >= 0.94, 1)
tl = today_links | today_links.T
print(f"today_16v160: {1000 * t_today:.1f} ms/img; {int(today_links.sum())} links, "
      f"{int((today_links & ~same).sum())} across species, judge pairs found {int((today_links & jt).sum())}, "
      f"leak by judge {leaks(join_groups(hg, list(zip(*np.nonzero(today_links), [0] * int(today_links.sum())))), judge)}", flush=True)

for cfg in which:
    make, cut = STAGE1[cfg]
    t0 = time.perf_counter(); e = embed(rgbs, make, cut); t1 = (time.perf_counter() - t0) / n
    np.save(f"{OUT}/{name}_{cfg}.npy", e)
    sim = e @ e.T; cp = sim[jt]
    rank = np.argsort(-(sim - 2 * np.eye(n)), axis=1)  # neighbours by cosine, self last
    jrank = [int(np.flatnonzero(rank[i] == j)[0]) + 1 for i, j in zip(*np.nonzero(jt))]
    jrank = np.minimum(jrank, [int(np.flatnonzero(rank[j] == i)[0]) + 1 for i, j in zip(*np.nonzero(jt))])
    print(f"{cfg}: {1000 * t1:.1f} ms/img ({t1 / t_today:.3f} of today); judge-pair cos min {cp.min():.3f} p1 "
          f"{np.percentile(cp, 1):.3f}; judge pairs' neighbour rank (better side) max {jrank.max()}, "
          f"p99 {np.percentile(jrank, 99):.0f}, within 10/20/30: {(jrank <= 10).mean():.3f}/{(jrank <= 20).mean():.3f}/{(jrank <= 30).mean():.3f}", flush=True)
    for k in (5, 10, 20, 30):
        index = faiss.IndexFlatIP(e.shape[1]); index.add(e)
        t0 = time.perf_counter()
        _, nn = index.search(e, k + 1)
        cand = np.sort(np.stack([np.repeat(np.arange(n), k + 1), nn.ravel()], 1), 1)
        cand = np.unique(cand[(cand[:, 0] < cand[:, 1])], axis=0)
        corr = best_correlation(thumbs, cand)
        t2 = (time.perf_counter() - t0) / n
        cm = np.zeros((n, n), bool); cm[cand[:, 0], cand[:, 1]] = True
        print(f"   k={k}: {len(cand)} candidates, {int((cm & jt).sum())} of the judge's pairs; stage 2 {1000 * t2:.1f} ms/img; "
              f"across-species correlation max {corr[labels[cand[:, 0]] != labels[cand[:, 1]]].max(initial=-1):.3f}", flush=True)
        for t in (0.85, 0.88, 0.9):
            keep = cand[corr >= t]
            g = join_groups(hg, [(int(i), int(j), 0) for i, j in keep])
            cross = int((labels[keep[:, 0]] != labels[keep[:, 1]]).sum())
            found = int(jt[keep[:, 0], keep[:, 1]].sum())
            print(f"      corr>={t}: {len(keep)} links, {cross} across species, judge pairs found {found}, largest {np.bincount(g).max()}, "
                  f"leak by judge {leaks(g, judge)}, by today's links {leaks(g, tl)}; total {1000 * (t1 + t2 + th / n):.1f} ms/img "
                  f"= {(t1 + t2 + th / n) / t_today:.3f} of today", flush=True)
