"""Import torchvision on the CPU build of torch.

The torchvision wheel paired with torch 2.13 carries CUDA-built compiled ops,
so ``import torchvision`` fails with "operator torchvision::nms does not
exist". Defining ``torchvision::nms`` / ``qnms`` with plain-torch CPU kernels
before the import lets models, transforms and ``torchvision.ops.nms`` work.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_LIB = None  # keeps the torch.library registration alive


def _nms_cpu(boxes, scores, iou_threshold: float):
    import torch

    order = torch.argsort(scores, descending=True)
    boxes = boxes[order]
    x0, y0, x1, y1 = boxes.unbind(1)
    areas = (x1 - x0).clamp(min=0) * (y1 - y0).clamp(min=0)
    keep: list[int] = []
    suppressed = torch.zeros(len(boxes), dtype=torch.bool)
    for i in range(len(boxes)):
        if suppressed[i]:
            continue
        keep.append(i)
        w = (torch.minimum(x1[i], x1) - torch.maximum(x0[i], x0)).clamp(min=0)
        h = (torch.minimum(y1[i], y1) - torch.maximum(y0[i], y0)).clamp(min=0)
        inter = w * h
        iou = inter / (areas[i] + areas - inter).clamp(min=1e-12)
        suppressed |= iou > iou_threshold
    return order[torch.tensor(keep, dtype=torch.long)]


def _qnms_cpu(boxes, scores, iou_threshold: float):
    return _nms_cpu(boxes.dequantize(), scores.dequantize(), iou_threshold)


def import_torchvision() -> ModuleType:
    """``import torchvision`` after registering CPU ``nms``/``qnms`` if they are missing."""
    global _LIB
    import torch

    if _LIB is None and not hasattr(torch.ops.torchvision, "nms"):
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.impl("nms", _nms_cpu, "CPU")
        lib.impl("qnms", _qnms_cpu, "CPU")
        _LIB = lib
    torchvision = importlib.import_module("torchvision")
    if _LIB is not None:
        # its own check looks for the (CUDA) compiled library; the ops it guards are now registered
        torchvision.extension._has_ops = lambda: True
    return torchvision
