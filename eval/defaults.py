"""The evaluation protocol's default settings, one place for the config dataclasses and the CLI.

`toolkit evaluate`'s flags and the dataclasses scripts and notebooks build (``EvalConfig``,
``FeatureConfig``, ``Dlib68Config``, ``FidConfig``, ``CsimConfig``) read their defaults here, so a run
from the command line and a run from Python measure the same way. This module imports nothing: the
CLI's parser is built at every ``toolkit`` start.
"""

#: evaluation frame size: centre square crop, area-resized to EVAL_SIZE x EVAL_SIZE
EVAL_SIZE = 256
#: dlib's HOG face detector runs on every n-th frame, the box is tracked from the landmarks in between
#: (the published leaderboards' setting; 1 = detect on every frame)
DLIB_DETECT_EVERY = 4
#: FID's Inception runs on onnxruntime ("torch" is the alternative)
FID_ENGINE = "onnxruntime"
#: CSIM's identity network ("auto": an ArcFace if given or installed, else the best substitute)
CSIM_EMBEDDER = "auto"
#: CSIM compares each frame with the ground-truth frame ("source": with the source frame)
CSIM_REFERENCE = "ground-truth"
#: the head-pose tracker of the head-motion metrics
POSE_BACKEND = "mediapipe"
#: the one codec step before the metrics ("none": the frames as generated)
ENCODE = "none"
