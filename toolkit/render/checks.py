"""Warnings about a reference that will look bad, said before anything is generated.

The 3D-aware renderer textures its mesh from one reference frame and takes backgrounds and mouth
interiors from the others, so some references cannot give a good video whatever the renderer
does: a face turned away in every frame, hair or a hand over the face (the mouth's line gone), glasses, a mouth open (or
eyes closed) in every frame, a face only a few dozen pixels wide. :func:`reference_warnings` checks
those from the reference's tracking alone (no rendering) and returns one message per problem,
each saying what to do. The pipeline shows them in the CLI (before generating), the batch report
and the app.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ReferenceLimits:
    """Thresholds of :func:`reference_warnings`."""

    #: head rotation (degrees from facing the camera) above which a frame counts as turned
    max_turn_deg: float = 25.0
    #: fraction of face landmarks whose colour is an outlier (toolkit.render.mesh.texture_outliers)
    #: above which a frame counts as occluded; with fewer than 3 frames the check cannot run
    max_occluded: float = 0.15
    #: forehead points darker than this fraction of the skin are hair (toolkit.render.mesh.forehead_hair) ...
    hair_luminance: float = 0.42
    #: ... and more than this fraction of them means hair over the face
    max_hair: float = 0.25
    #: inner-lip gap / mouth width above which a mouth counts as open
    open_mouth: float = 0.15
    #: eye openness (toolkit.render.mesh.eye_openness) below which eyes count as closed
    closed_eyes: float = 0.12
    #: face width (temple to temple) in the source frame's pixels below which the face is small
    min_face_px: float = 80.0
    #: contrast (grey levels) of the strongest bar across the nose bridge above which glasses are worn
    #: (:func:`nose_bridge_bar`; 4 frames of each of 29 shared clips: 0.8-10.3 without glasses, 31.5-39.7 with)
    glasses_bar: float = 15.0
    #: grey-level difference between the lips' meeting line and the lip body below which the mouth counts as
    #: covered (:func:`mouth_line_contrast`; 44 shared clips, 2,804 frames: 1.9 % of frames below 1.5, at most
    #: 7.8 % of one clip's; 6 clips with a real skin patch shaped as a hand over the mouth: 84-100 % of frames) ...
    covered_mouth_line: float = 1.5
    #: ... and more than this fraction of the reference frames with a covered mouth means a hand over the face
    max_covered_mouth: float = 0.3


def nose_bridge_bar(frames: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Per frame, the grey-level contrast of the strongest bar across the nose bridge (NaN: no face).

    Glasses cross the bridge between the eyes with their bridge piece (dark, metal or a tinted rim);
    skin there is smooth. The grey profile from between the brows (MediaPipe point 9) down the nose
    (197), 48 samples each averaged over a short span across it, lightly smoothed; a bar is a sample
    that differs from the mean of the samples 4 before and 4 after it (a twelfth of the segment each
    way, so a dark bar of any face size counts). The largest such difference, in grey levels.
    """
    import cv2

    imgs = np.asarray(frames)
    lm = np.asarray(landmarks, np.float64)
    out = np.full(len(imgs), np.nan)
    t = np.linspace(0.0, 1.0, 48)[:, None]
    for k, (img, points) in enumerate(zip(imgs, lm)):
        if not np.isfinite(points[[9, 197], :2]).all():
            continue
        grey = cv2.GaussianBlur(
            cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0
        )
        top, bottom = points[9, :2], points[197, :2]
        along = top + t * (bottom - top)  # (48, 2)
        across = np.array([top[1] - bottom[1], bottom[0] - top[0]]) / max(np.linalg.norm(bottom - top), 1e-9)
        samples = []
        for o in np.linspace(-2.0, 2.0, 5):  # 5 lines 1 px apart across the bridge
            xy = (along + o * across).astype(np.float32)
            samples.append(cv2.remap(grey, xy[None, :, 0], xy[None, :, 1], cv2.INTER_LINEAR)[0])
        profile = np.mean(samples, axis=0)
        out[k] = float(np.abs(0.5 * (profile[:-8] + profile[8:]) - profile[4:-4]).max())
    return out


#: MediaPipe (outer lip, inner lip) point pairs: their midpoints lie on the lips' body, upper and lower
LIP_BODY_PAIRS = (
    (0, 13), (37, 82), (39, 81), (40, 80), (185, 191), (267, 312), (269, 311), (270, 310), (409, 415),
    (17, 14), (84, 87), (181, 178), (91, 88), (146, 95), (314, 317), (405, 402), (321, 318), (375, 324),
)  # fmt: skip
#: (upper, lower) inner-lip point pairs: their midpoints lie on the line where the lips meet
LIP_LINE_PAIRS = ((13, 14), (82, 87), (81, 178), (80, 88), (312, 317), (311, 402), (310, 318))


def mouth_line_contrast(frames: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Per frame, how much the line where the lips meet differs in grey level from the lip body (NaN: no face).

    A visible mouth always has that line: a closed mouth's shadow (darker than the lips), an open mouth's
    cavity (much darker) or teeth (brighter). A hand over the mouth is skin where the tracker still puts the
    lips (the face landmarker keeps placing them under the hand), so the line is gone: the grey level at the
    lips' meeting line (midpoints of :data:`LIP_LINE_PAIRS`) minus the lip body's (midpoints of
    :data:`LIP_BODY_PAIRS`), medians of 3x3 means, as an absolute value in grey levels.
    """
    import cv2

    imgs = np.asarray(frames)
    lm = np.asarray(landmarks, np.float64)
    out = np.full(len(imgs), np.nan)
    body, meet = np.asarray(LIP_BODY_PAIRS), np.asarray(LIP_LINE_PAIRS)
    for k, (img, points) in enumerate(zip(imgs, lm)):
        if not np.isfinite(points[:, :2]).all():
            continue
        grey = cv2.blur(cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY).astype(np.float32), (3, 3))
        h, w = grey.shape

        def at(pairs: np.ndarray, grey: np.ndarray = grey, h: int = h, w: int = w, points: np.ndarray = points):
            xy = 0.5 * (points[pairs[:, 0], :2] + points[pairs[:, 1], :2])
            x = np.clip(np.round(xy[:, 0]).astype(np.int64), 0, w - 1)
            y = np.clip(np.round(xy[:, 1]).astype(np.int64), 0, h - 1)
            return grey[y, x]

        out[k] = abs(float(np.median(at(meet)) - np.median(at(body))))
    return out


def reference_warnings(
    frames: np.ndarray,
    landmarks: np.ndarray,
    rotation: np.ndarray,
    frontal68: np.ndarray,
    source_px_per_crop_px: float = 1.0,
    limits: ReferenceLimits | None = None,
) -> list[str]:
    """Problems of a reference that the output will show, one actionable message each ([] = fine).

    Args:
        frames: ``(K, H, W, 3)`` uint8 reference face crops (or frames).
        landmarks: ``(K, N, 3)`` MediaPipe landmarks in those crops' pixels (NaN where not found).
        rotation: ``(K, 3)`` axis-angle head rotation (toolkit.motion).
        frontal68: ``(K, 68, 3)`` frontalised 68 points (toolkit.motion).
        source_px_per_crop_px: how many source-frame pixels one crop pixel spans (face size check).
    """
    from toolkit.render.lips import lip_opening
    from toolkit.render.mesh import canonical_vertices, eye_openness, forehead_hair, forehead_points, texture_outliers

    lim = limits or ReferenceLimits()
    lm = np.asarray(landmarks, np.float64)
    seen = np.isfinite(lm).all(axis=(1, 2))
    if not seen.any():
        return ["the face was not found in any reference frame: give a video or photo where the face is visible"]
    out: list[str] = []
    turn = np.degrees(np.linalg.norm(np.asarray(rotation, np.float64), axis=1))[seen]
    if turn.min() > lim.max_turn_deg:
        out.append(
            f"the face is turned {turn.min():.0f} degrees or more from the camera in every reference frame "
            f"(limit {lim.max_turn_deg:.0f}): its far side has no texture; use a reference that faces the camera"
        )
    occluded = texture_outliers(np.asarray(frames), lm)[seen]
    # a fringe is in every frame (frames agree on it): compare the forehead with the face's own skin
    k = int(np.flatnonzero(seen)[np.argmin(turn)])
    canon = canonical_vertices(lm[k], np.asarray(rotation)[k], np.zeros(3), 1.0)
    hair = forehead_hair(np.asarray(frames)[k], lm[k], canon, lim.hair_luminance)
    forehead = max(len(forehead_points(canon)), 1)
    if hair.sum() / forehead > lim.max_hair:
        out.append(
            f"hair covers the forehead ({int(hair.sum())} of {forehead} forehead points are hair): the render "
            "keeps the reference's own hair there, which does not follow the face; a reference with the "
            "forehead uncovered (hair pinned back) looks better"
        )
    if len(occluded) >= 3 and occluded.min() > lim.max_occluded:
        out.append(
            f"something covers part of the face in every reference frame ({occluded.min() * 100:.0f}% of the face "
            "differs from its usual colour: hair, a hand, glasses or a microphone): it will be baked into the face; "
            "use a reference where the face is uncovered"
        )
    mouth = lip_opening(np.asarray(frontal68, np.float64)[seen])
    if mouth.min() > lim.open_mouth and len(mouth) == 1:
        out.append(
            "the mouth is open in the photo: closed lips will be stretched from open ones; "
            "a photo with the lips closed (or only slightly parted) looks better"
        )
    elif mouth.min() > lim.open_mouth:
        out.append(
            "the mouth is open in every reference frame: closed lips will be stretched from open ones; "
            "use a reference where the person also closes the mouth (a few seconds of speech with pauses)"
        )
    bar = nose_bridge_bar(np.asarray(frames), lm)[seen]
    if np.nanmedian(bar) > lim.glasses_bar:
        out.append(
            "glasses over the eyes: their rims and lenses are painted into the face texture, so they bend a "
            "little with the cheeks and brows and their reflections never move; a reference without glasses "
            "looks better"
        )
    covered = mouth_line_contrast(np.asarray(frames), lm)[seen] < lim.covered_mouth_line
    if covered.mean() > lim.max_covered_mouth:
        out.append(
            f"a hand (or something skin-coloured) covers the mouth in {int(covered.sum())} of {len(covered)} "
            "reference frames: it would be painted into the face and the lips could not move; use a reference "
            "where the mouth and chin are uncovered (or cut the part with the hand out of the video)"
        )
    eyes = eye_openness(lm[seen])
    if np.nanmax(eyes) < lim.closed_eyes:
        out.append(
            "the eyes are closed (or hidden) in every reference frame: the video will have closed eyes; "
            "use a reference with open eyes"
        )
    width = np.linalg.norm(lm[seen][:, 234, :2] - lm[seen][:, 454, :2], axis=-1) * float(source_px_per_crop_px)
    if np.median(width) < lim.min_face_px:
        out.append(
            f"the face is only {np.median(width):.0f} pixels wide in the reference (less than {lim.min_face_px:.0f}):"
            " the video will be blurry; use a higher-resolution reference or one where the face is closer"
        )
    return out
