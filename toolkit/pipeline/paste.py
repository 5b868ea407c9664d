"""Paste-back output: the generated face crop put back into the original frame.

The crop is pasted into the reference frame the motion matcher chose for it
(its background, hair and shoulders match), with a feathered border so the
seam does not show. Large frames are scaled to ``max_paste_side`` first.
When the matched frame changes, the full-frame background cross-fades from the
old one over the matcher's ``crossfade_frames`` (no jump of the body/scene).

The seam is matched to the frame (``SeamMatch``): along the seam an upscaled face is sharpened until
its detail (mean absolute Laplacian) equals the frame's own there, and the colour difference between
the face and the frame in the blend band is carried into the face as a smooth offset, so neither a
sharpness step nor a colour step shows where the face meets the full-resolution frame.
"""

from __future__ import annotations

import numpy as np

from toolkit.pipeline.stages import Reference


def _even(v: float) -> int:
    return max(2, int(round(v / 2.0)) * 2)


class SeamMatch:
    """Sharpness and colour of a pasted face matched to the frame around it (state: the sharpening, smoothed).

    Sharpness, at the seam only: an unsharp mask (Gaussian of sigma ``upscale / 2`` output pixels, at least
    0.8: the band the crop's resolution lost) whose amount makes the face's mean absolute Laplacian next to
    the seam equal that of the frame under it (the matched reference frame: the same person, camera and
    place), applied fully along the seam and fading to nothing ``sharpen_reach`` of the face's side inside
    it, so the eyes and mouth stay as rendered (sharpening a render amplifies its errors there: measured,
    SSIM / LMD worse) while the face's border comes closer to the sharpness of the frame it meets. The
    amount is smoothed over frames (no flicker) and capped at ``max_amount`` (no halos; the cap often binds).
    Colour: the difference frame - face in the blend band
    (weight 4 a (1 - a), largest where the two are mixed half and half) spread by normalised convolution
    (Gaussian of ``colour_sigma`` of the face's side), fading to nothing in the face's middle, capped at
    ``max_offset`` levels, less ``min_step`` levels (an invisible step is left alone), and added to the face.
    Only for a face enlarged ``min_upscale`` times or more into the frame (a 256 px face in a 1080p frame is
    enlarged 2-3 times): below that the upscaling's softness is slight, and a face shrunk into the frame
    is as sharp as it. Both are measured in ``eval/metrics/seam.py``
    (docs/EVALUATION.md, "Paste-back seam").
    """

    #: side (pixels) of the grid the colour correction is computed on
    COARSE = 64
    #: pixels next to the seam the sharpening amount is fitted on (a regular subsample: speed)
    FIT_PIXELS = 20000

    def __init__(
        self,
        max_amount: float = 1.0,
        smoothing: float = 0.8,
        colour_sigma: float = 0.12,
        max_offset: float = 24.0,
        sharpen_reach: float = 0.12,
        min_step: float = 1.0,
        min_upscale: float = 1.5,
    ) -> None:
        self.min_upscale = min_upscale
        self.max_amount = max_amount
        self.min_step = min_step
        self.sharpen_reach = sharpen_reach
        self.smoothing = smoothing
        self.colour_sigma = colour_sigma
        self.max_offset = max_offset
        self.amount = -1.0  # unsharp amount of the previous frame (-1: none yet)

    def __call__(self, face: np.ndarray, frame: np.ndarray, alpha: np.ndarray, upscale: float) -> np.ndarray:
        """``face`` and ``frame`` (H, W, 3) float32 in the paste box, ``alpha`` (H, W) the face's weight there."""

        if upscale < self.min_upscale:
            return face
        face = self._sharpen(face, frame, alpha, upscale)
        band = 4.0 * alpha * (1.0 - alpha)
        if band.max() > 0.1:
            face = face + self._colour_offset(face, frame, band)
        return face

    def _colour_offset(self, face: np.ndarray, frame: np.ndarray, band: np.ndarray) -> np.ndarray:
        """The smooth colour correction (H, W, 3): computed on a grid of at most ``COARSE`` pixels a side (a
        Gaussian of a fifth of the face would cost seconds a frame at full resolution), then upsampled."""
        import cv2

        h, w = band.shape
        f = min(1.0, self.COARSE / max(h, w))
        small = (max(1, round(w * f)), max(1, round(h * f)))
        weight = cv2.resize(band, small, interpolation=cv2.INTER_AREA)
        diff = cv2.resize((frame - face) * band[..., None], small, interpolation=cv2.INTER_AREA)
        sigma = max(1.0, self.colour_sigma * max(small))
        spread_w = cv2.GaussianBlur(weight, (0, 0), sigma)
        spread_d = cv2.GaussianBlur(diff, (0, 0), sigma)
        # normalised convolution, faded where little band is near (the face's middle keeps its colour)
        offset = spread_d / (spread_w + 0.1 * float(spread_w.max()) + 1e-6)[..., None]
        # steps below ``min_step`` levels are not visible: left alone (correcting them only pulls the face
        # toward the matched frame's own small differences from the moment rendered)
        offset = np.sign(offset) * np.clip(np.abs(offset) - self.min_step, 0.0, self.max_offset)
        return cv2.resize(offset, (w, h), interpolation=cv2.INTER_LINEAR)

    def _sharpen(self, face: np.ndarray, frame: np.ndarray, alpha: np.ndarray, upscale: float) -> np.ndarray:
        import cv2

        inside = (alpha >= 0.5).astype(np.uint8)
        if inside.sum() < 64:
            return face
        # 1 at the seam, 0 from ``sharpen_reach`` of the face's side inwards (distance from the seam, pixels)
        depth = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
        # on the face's side only (where the frame dominates, sharpening the face adds nothing visible)
        weight = np.clip(1.0 - depth / max(1.0, self.sharpen_reach * max(alpha.shape)), 0.0, 1.0) * inside
        near = weight > 0.5  # where the amount is fitted
        if near.sum() < 64:
            return face
        detail = face - cv2.GaussianBlur(face, (0, 0), max(0.8, upscale / 2.0))

        def grey(img: np.ndarray) -> np.ndarray:
            return img @ np.array([0.299, 0.587, 0.114], np.float32)

        step = max(1, int(near.sum()) // self.FIT_PIXELS)
        target = float(np.abs(cv2.Laplacian(grey(frame), cv2.CV_32F)[near][::step]).mean())
        lap_face = cv2.Laplacian(grey(face), cv2.CV_32F)[near][::step]
        lap_detail = cv2.Laplacian(grey(detail), cv2.CV_32F)[near][::step]
        lo, hi = 0.0, self.max_amount  # the Laplacian energy grows with the amount: bisection
        if float(np.abs(lap_face).mean()) >= target:
            hi = 0.0
        elif float(np.abs(lap_face + hi * lap_detail).mean()) <= target:
            lo = hi
        for _ in range(10 if lo < hi else 0):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if float(np.abs(lap_face + mid * lap_detail).mean()) < target else (lo, mid)
        amount = 0.5 * (lo + hi)
        if self.amount >= 0:
            amount = self.smoothing * self.amount + (1.0 - self.smoothing) * amount
        self.amount = amount
        return face + (amount * weight)[..., None] * detail


class PasteBack:
    """Pastes size x size crops into the reference's full frames (only the K sampled frames are kept)."""

    def __init__(
        self,
        ref: Reference,
        max_side: int,
        feather: float = 0.08,
        crossfade: int | None = None,
        match_seam: bool = True,
    ) -> None:
        import cv2

        from toolkit.render.matcher import MatcherConfig

        if not ref.full_frames:
            raise ValueError("paste-back needs the reference's full frames (config.output='paste-back')")
        h, w = ref.frame_size
        f = min(1.0, max_side / max(h, w))
        self.out_size = (_even(w * f), _even(h * f))  # (W, H), even for yuv420p
        fx, fy = self.out_size[0] / w, self.out_size[1] / h
        x0, y0, x1, y1 = ref.crop_box
        self.box = (int(round(x0 * fx)), int(round(y0 * fy)), int(round(x1 * fx)), int(round(y1 * fy)))
        self.box = (
            self.box[0],
            self.box[1],
            min(self.out_size[0], max(self.box[0] + 2, self.box[2])),
            min(self.out_size[1], max(self.box[1] + 2, self.box[3])),
        )
        self.indices = np.array(sorted(ref.full_frames), int)
        self.backgrounds = {
            i: cv2.resize(frame, self.out_size, interpolation=cv2.INTER_AREA)
            if f < 1.0 or frame.shape[1::-1] != self.out_size
            else frame
            for i, frame in ref.full_frames.items()
        }
        bw, bh = self.box[2] - self.box[0], self.box[3] - self.box[1]
        self.alpha = _feather_mask(bh, bw, feather)[..., None]
        self.crossfade = MatcherConfig().crossfade_frames if crossfade is None else int(crossfade)
        self._key = -1  # background of the previous output frame, and the one fading out
        self._fading, self._fade_step = -1, 0
        #: matches the face's sharpness and colour to the frame at the seam (None: the face as rendered)
        self.seam = SeamMatch() if match_seam else None
        #: the face's weight in the paste box of the last frame (H, W): where the seam lies, for measurements
        self.last_alpha: np.ndarray | None = None

    def apply(
        self, crop: np.ndarray, matched: int, face_mask: np.ndarray | None = None, flow: np.ndarray | None = None
    ) -> np.ndarray:
        """The crop pasted into the full frame of reference ``matched``.

        ``face_mask`` (S, S) is where the crop differs from that reference frame (the renderer's blending
        weight): outside it the full-resolution frame is kept, so hair, neck and background stay as sharp
        as the rest of the frame instead of being the crop upscaled. An upscaled face is resized with
        bicubic interpolation (sharper than bilinear). ``flow`` (G, G, 2, crop pixels) is the coarse flow
        that moved the matched frame with the head in the crop (``toolkit.render.align``): where it moves
        anything the crop is kept too (hair and neck follow the head there; a cross-fade between two matched
        frames is mixed in the crop with each frame moved by its own flow, which the full frame cannot redo).
        """
        import cv2

        key = (
            int(matched)
            if int(matched) in self.backgrounds
            else int(self.indices[np.argmin(np.abs(self.indices - int(matched)))])
        )
        if self._key >= 0 and key != self._key and self.crossfade > 0:
            self._fading, self._fade_step = self._key, 0
        self._key = key
        out = self.backgrounds[key].copy()
        if self._fading >= 0:
            self._fade_step += 1
            if self._fade_step > self.crossfade:
                self._fading = -1
            else:
                w = self._fade_step / (self.crossfade + 1.0)
                old = self.backgrounds[self._fading].astype(np.float32)
                out = np.clip(w * out.astype(np.float32) + (1 - w) * old + 0.5, 0, 255).astype(np.uint8)
        x0, y0, x1, y1 = self.box
        size = (x1 - x0, y1 - y0)
        up = size[0] > crop.shape[1]
        face = cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC if up else cv2.INTER_AREA).astype(np.float32)
        alpha = self.alpha
        if face_mask is not None and key == int(matched):
            # grow the face weight by a few crop pixels and soften it: the seam falls on the render's own fade
            m = cv2.dilate((np.asarray(face_mask, np.float32) > 0.02).astype(np.float32), np.ones((5, 5), np.uint8))
            if flow is not None:  # and wherever the matched frame was moved by a visible amount (0.25 px and up)
                from toolkit.render.align import dense_flow

                shift = np.linalg.norm(dense_flow(flow, crop.shape[:2]), axis=-1)
                m = np.maximum(m, np.clip(shift / 0.25, 0.0, 1.0))
            m = cv2.GaussianBlur(m, (0, 0), 1.5)
            alpha = alpha * cv2.resize(m, size, interpolation=cv2.INTER_LINEAR)[..., None]
        region = out[y0:y1, x0:x1].astype(np.float32)
        self.last_alpha = alpha[..., 0]
        if self.seam is not None:
            face = self.seam(face, region, alpha[..., 0], size[0] / crop.shape[1])
        out[y0:y1, x0:x1] = np.clip(alpha * face + (1.0 - alpha) * region + 0.5, 0, 255).astype(np.uint8)
        return out


def _feather_mask(h: int, w: int, feather: float) -> np.ndarray:
    """1 inside, falling smoothly to 0 at the border over ``feather`` of the side."""

    def ramp(n: int) -> np.ndarray:
        band = max(1.0, feather * n)
        d = np.minimum(np.arange(n) + 0.5, n - np.arange(n) - 0.5)
        x = np.clip(d / band, 0.0, 1.0)
        return x * x * (3 - 2 * x)  # smoothstep

    return np.outer(ramp(h), ramp(w)).astype(np.float32)
