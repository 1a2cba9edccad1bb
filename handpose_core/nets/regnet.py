"""The joint regression network f_r: depth crop (+ part segmentation) -> 14 joints in 3D.

Figure 4 of Neverova et al., built from one frozen :class:`RegNetConfig`:

- a **trunk** on the depth crop: convolution c1 (``channels`` maps, 3x3), 2x2 max
  pooling to S/2 x S/2, ``convs - 1`` further 3x3 convolutions at that size (BatchNorm +
  ReLU) and 2x2 max pooling to S/4 x S/4; :meth:`RegNet.features` returns its maps;
  :meth:`RegNet.guidance_features` the maps a guidance head plugs onto (``guidance_at``:
  ``"trunk"`` the trunk's output at S/4, ``"early"`` c1's output at S x S, before pooling);
  with ``guidance_feedback`` the network owns that head and its J maps, average-pooled to
  S/4, are concatenated to the trunk's maps that the per-joint layers below read;
- per joint j a **region of interest**: the pixels of the parts nearest that joint
  (:data:`handpose_core.parts.JOINT_PARTS_14`; the wrist joints, which have no part of
  their own, take the palm), morphologically opened (3x3 erosion then dilation, so that
  stray pixels of a noisy segmentation do not count), max-pooled to the trunk's
  resolution (S/4). Where a joint's opened mask is empty the unopened one is used, and where
  that is empty too the hand silhouette;
- per joint the masked maps and the full maps (2 x ``channels``) go through an
  **Inception-like module** (a 1x1 and a 3x3 branch of ``inception`` / 2 maps each),
  2x2 max pooling, a **fully connected layer** of ``hidden`` units and an output of 3
  numbers. Every joint has its own weights (the paper found separate per-joint networks
  better than shared ones); they run as grouped convolutions and batched matrix products.

Variants (the rows of Table 4): ``a`` direct regression from depth only -- the same
network with every joint's mask the hand silhouette (depth < background), so that the
ablation changes the segmentation input and nothing else; ``b`` the cascade's
refinement step (same as ``a``, on a tighter crop around the first step's palm
centre); ``c`` / ``d`` masks from the synthetic-only / fine-tuned f_s.

Coordinates: outputs are per joint (gx, gy, z): gx, gy are the crop pixel position in
``grid_sample``'s normalised convention (``(2 x + 1) / S - 1``, x the crop pixel
coordinate of :class:`~handpose_core.datasets.crop.CropTransform`), z the crop's
normalised depth (-1..1 over the cube). :func:`uvd_to_target` and
:func:`target_to_uvd` convert exactly to and from full-frame u, v (px), d (mm).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..datasets.crop import CropTransform
from ..errors import BadInput
from ..parts import JOINT_PARTS_14, NUM_CLASSES

ARCHITECTURE = "regnet"
VARIANTS = ("a", "b", "c", "d")
VARIANT_TITLES = {"a": "direct regression (depth only)",
                  "b": "cascade (refined on a tighter crop)",
                  "c": "f_r with the synthetic-only f_s",
                  "d": "f_r with the fine-tuned f_s (full method)"}
SEGMENTED = ("c", "d")
"""Variants whose masks come from a segmentation; the others use the silhouette."""

GUIDANCE_AT = ("trunk", "early")
"""Where a guidance head reads f_r: the trunk's output (S/4) or c1's output (S, unpooled)."""

PALM = 1
"""Part id of the palm: the region of interest of the wrist joints."""


@dataclass(frozen=True)
class RegNetConfig:
    """Architecture of f_r (see the module docstring).

    ``variant``: a, b, c or d (stored in checkpoints: a model of one variant is never
    loaded as another); ``in_size``: crop side S (a multiple of 8); ``channels``: trunk maps (paper
    32); ``convs``: trunk convolutions (paper 1); ``inception``: maps out of each joint's
    Inception module, split evenly between its 1x1 and 3x3 branches (paper 8-16);
    ``hidden``: units of each joint's fully connected layer (paper 1200);
    ``dropout``: before the output layer; ``open_size``: side of the opening's square
    structuring element (1 disables the opening); ``guidance_at``: the feature map a
    guidance head reads (:data:`GUIDANCE_AT`; the joint layers are the same either way);
    ``guidance_feedback``: the network has its own guidance head whose maps the joint layers
    read too (so the head is needed, and saved, for inference).
    """

    variant: str = "d"
    in_size: int = 48
    num_joints: int = 14
    num_classes: int = NUM_CLASSES
    channels: int = 32
    convs: int = 2
    inception: int = 16
    hidden: int = 128
    dropout: float = 0.0
    open_size: int = 3
    guidance_at: str = "trunk"
    guidance_feedback: bool = False

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise BadInput(f"unknown f_r variant {self.variant!r}; expected one of {VARIANTS}")
        if self.in_size < 16 or self.in_size % 8:
            raise BadInput(f"f_r in_size must be a multiple of 8 >= 16, got {self.in_size}")
        if self.num_joints != len(JOINT_PARTS_14):
            raise BadInput(f"f_r regresses {len(JOINT_PARTS_14)} joints, got {self.num_joints}")
        if min(self.channels, self.convs, self.hidden) < 1 or self.inception < 2 \
                or self.inception % 2:
            raise BadInput("f_r channels, convs, hidden must be >= 1 and inception even >= 2")
        if not 0.0 <= self.dropout < 1.0 or self.open_size < 1 or self.open_size % 2 == 0:
            raise BadInput("f_r dropout must be in [0, 1) and open_size odd >= 1")
        if self.guidance_at not in GUIDANCE_AT:
            raise BadInput(f"f_r guidance_at must be one of {GUIDANCE_AT}, got {self.guidance_at!r}")

    @property
    def segmented(self) -> bool:
        """Whether the masks come from part labels (c, d) or the silhouette (a, b)."""
        return self.variant in SEGMENTED

    def to_dict(self) -> dict:
        """The fields as a dict; ``guidance_at`` / ``guidance_feedback`` only when not their
        defaults, so that runs saved before they existed compare (resume) and load unchanged."""
        d = asdict(self)
        for k, default in (("guidance_at", "trunk"), ("guidance_feedback", False)):
            if d[k] == default:
                del d[k]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RegNetConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise BadInput(f"unknown RegNetConfig fields: {sorted(unknown)}")
        return cls(**d)


def _part_lut(num_classes: int) -> torch.Tensor:
    """``(J, num_classes)`` float: 1 where a part belongs to a joint's region."""
    lut = torch.zeros(len(JOINT_PARTS_14), num_classes)
    for j, parts in enumerate(JOINT_PARTS_14):
        for p in (parts or (PALM,)):
            lut[j, p] = 1.0
    return lut


class RegNet(nn.Module):
    """f_r. ``forward(depth (B, 1, S, S), labels (B, S, S) int64 or None) -> (B, J, 3)``.

    ``labels`` are needed by the segmented variants (c, d) and ignored by a, b.
    ``guidance_head``: an optional module on :meth:`guidance_features` (see
    :meth:`forward_features`); it is part of the model's state when set.
    """

    architecture = ARCHITECTURE

    def __init__(self, config: RegNetConfig):
        super().__init__()
        self.config = c = config
        layers: list[nn.Module] = [nn.Conv2d(1, c.channels, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(c.channels), nn.ReLU(inplace=True),
                                   nn.MaxPool2d(2)]
        for _ in range(c.convs - 1):
            layers += [nn.Conv2d(c.channels, c.channels, 3, padding=1, bias=False),
                       nn.BatchNorm2d(c.channels), nn.ReLU(inplace=True)]
        layers.append(nn.MaxPool2d(2))
        self.trunk = nn.Sequential(*layers)
        j, half = c.num_joints, c.inception // 2
        ch = c.channels + (j if c.guidance_feedback else 0)  # maps the joint layers read
        # Each branch's convolution of the per-joint [masked, full] maps is split into its
        # two halves (the same function): the full maps are the same for every joint, so
        # their half is one ordinary convolution to J x half maps; the masked half of the
        # 3x3 branch is a grouped convolution (one group per joint); and a 1x1 convolution
        # commutes with a per-pixel mask, so the masked 1x1 half is W f masked afterwards.
        self.b1_masked = nn.Conv2d(ch, j * half, 1, bias=False)
        self.b1_full = nn.Conv2d(ch, j * half, 1)
        self.b3_masked = nn.Conv2d(j * ch, j * half, 3, padding=1, groups=j, bias=False)
        self.b3_full = nn.Conv2d(ch, j * half, 3, padding=1)
        side = c.in_size // 8
        n_in = c.inception * side * side
        self.fc_w = nn.Parameter(torch.empty(j, n_in, c.hidden))
        self.fc_b = nn.Parameter(torch.zeros(j, c.hidden))
        self.out_w = nn.Parameter(torch.empty(j, c.hidden, 3))
        self.out_b = nn.Parameter(torch.zeros(j, 3))
        # nn.Linear's default initialisation, per joint: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        nn.init.uniform_(self.fc_w, -n_in ** -0.5, n_in ** -0.5)
        nn.init.uniform_(self.out_w, -c.hidden ** -0.5, c.hidden ** -0.5)
        self.dropout = nn.Dropout(c.dropout) if c.dropout > 0 else nn.Identity()
        self.register_buffer("lut", _part_lut(c.num_classes), persistent=False)
        self.guidance_head: nn.Module | None = None
        if c.guidance_feedback:
            # function-local for start-up time: the guidance package loads only for an f_r
            # trained with a guidance head
            from ..guidance.head import GuidanceHead

            self.guidance_head = GuidanceHead(c.channels, n_joints=j, out_size=c.in_size)

    # ------------------------------------------------------------------ pieces
    def features(self, depth: torch.Tensor) -> torch.Tensor:
        """Trunk maps ``(B, channels, S/4, S/4)`` of depth crops ``(B, 1, S, S)``: the
        features the joint layers read (and the default guidance head)."""
        return self._trunk(depth)[1]

    def _trunk(self, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(c1's maps (B, C, S, S) after BatchNorm + ReLU, trunk maps (B, C, S/4, S/4))``."""
        s = self.config.in_size
        if depth.dim() != 4 or depth.shape[1] != 1 or depth.shape[-1] != s \
                or depth.shape[-2] != s:
            raise ValueError(f"f_r expects (B, 1, {s}, {s}) depth crops, got {tuple(depth.shape)}")
        early = self.trunk[:3](depth)
        return early, self.trunk[3:](early)

    def guidance_features(self, depth: torch.Tensor) -> torch.Tensor:
        """The maps a guidance head reads: ``(B, C, S/4, S/4)`` trunk maps (``guidance_at``
        "trunk") or ``(B, C, S, S)`` c1 maps ("early") of depth crops ``(B, 1, S, S)``."""
        early, feats = self._trunk(depth)
        return early if self.config.guidance_at == "early" else feats

    def joint_masks(self, depth: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """``(B, J, S/4, S/4)`` float regions of interest (see the module docstring)."""
        sil = (depth < 1.0).float()  # (B, 1, S, S)
        j = self.config.num_joints
        if not self.config.segmented:
            m = sil.expand(-1, j, -1, -1)
        else:
            if labels is None:
                raise ValueError(f"f_r variant {self.config.variant} needs part labels")
            lab = labels.long().clamp(0, self.config.num_classes - 1)
            raw = self.lut[:, lab].transpose(0, 1)  # (B, J, S, S)
            k = self.config.open_size
            m = raw
            if k > 1:  # binary opening with box filters (no pooling indices: faster)
                p = k // 2
                eroded = (F.avg_pool2d(raw, k, 1, p, count_include_pad=False) > 0.999).float()
                m = (F.avg_pool2d(eroded, k, 1, p) > 0.0).float()
            has = m.amax((2, 3), keepdim=True) > 0
            m = torch.where(has, m, raw)
            has = m.amax((2, 3), keepdim=True) > 0
            m = torch.where(has, m, sil.expand_as(m))
        return (F.avg_pool2d(m, 4) > 0).float()  # max pooling of a binary mask

    def forward_features(self, depth: torch.Tensor, labels: torch.Tensor | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(joints (B, J, 3), guidance features)``: the maps of :meth:`guidance_features`
        besides the joints."""
        joints, g, _ = self._forward(depth, labels, want_maps=False)
        return joints, g

    def forward_guided(self, depth: torch.Tensor, labels: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(joints (B, J, 3), maps (B, J, S, S) of the guidance head, or None without
        one)``: what a guidance loss needs besides the joint loss, the head run once."""
        joints, _, maps = self._forward(depth, labels, want_maps=True)
        return joints, maps

    def _forward(self, depth, labels, want_maps: bool):
        c = self.config
        early, feats = self._trunk(depth)
        g = early if c.guidance_at == "early" else feats
        maps = None
        if self.guidance_head is not None and (want_maps or c.guidance_feedback):
            maps = self.guidance_head(g)
        if c.guidance_feedback:
            feats = torch.cat([feats, F.adaptive_avg_pool2d(maps, feats.shape[-2:])], dim=1)
        masks = self.joint_masks(depth, labels)  # (B, J, h, w)
        b, ch, h, w = feats.shape
        j = c.num_joints
        half = c.inception // 2
        m = masks.unsqueeze(2)  # (B, J, 1, h, w)
        masked = (feats.unsqueeze(1) * m).reshape(b, j * ch, h, w)
        y1 = self.b1_masked(feats).view(b, j, half, h, w) * m \
            + self.b1_full(feats).view(b, j, half, h, w)
        y3 = self.b3_masked(masked).view(b, j, half, h, w) \
            + self.b3_full(feats).view(b, j, half, h, w)
        y = torch.cat([y1, y3], dim=2)  # (B, J, inception, h, w)
        y = F.max_pool2d(F.relu(y).view(b, j * c.inception, h, w), 2)
        y = y.view(b, j, -1).transpose(0, 1)  # (J, B, F): one matrix product per joint
        hid = F.relu(torch.baddbmm(self.fc_b.unsqueeze(1), y, self.fc_w))
        out = torch.baddbmm(self.out_b.unsqueeze(1), self.dropout(hid), self.out_w)
        return out.transpose(0, 1), g, maps

    def forward(self, depth: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_features(depth, labels)[0]

    def fuse(self) -> RegNet:
        """Fold the trunk's BatchNorm into its convolutions (eval mode only); ``self``."""
        if self.training:
            raise RuntimeError("fuse() is for inference: call model.eval() first")
        mods = list(self.trunk)
        for i in range(len(mods) - 1):
            if isinstance(mods[i], nn.Conv2d) and isinstance(mods[i + 1], nn.BatchNorm2d):
                mods[i] = torch.nn.utils.fusion.fuse_conv_bn_eval(mods[i], mods[i + 1])
                mods[i + 1] = nn.Identity()
        self.trunk = nn.Sequential(*mods)
        return self

    def attach_guidance(self, head: nn.Module | None) -> None:
        """Plug a guidance head onto :meth:`guidance_features` (None removes it). It becomes part
        of the model: trained with it and saved in its checkpoints."""
        if head is None and self.config.guidance_feedback:
            raise ValueError("this f_r reads its guidance maps (guidance_feedback): its head stays")
        self.guidance_head = head

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def predict(self, depth_crops: np.ndarray, labels: np.ndarray | None = None, *,
                batch: int = 256) -> np.ndarray:
        """``(N, S, S)`` float32 crops (+ ``(N, S, S)`` uint8 labels) -> ``(N, J, 3)``
        float64 targets (crop coordinates; see :func:`target_to_uvd`). Eval mode."""
        a = np.asarray(depth_crops, np.float32)
        if a.ndim != 3:
            raise ValueError(f"f_r predict expects (N, S, S) crops, got shape {a.shape}")
        if self.config.segmented and labels is None:
            raise ValueError(f"f_r variant {self.config.variant} needs part labels")
        self.eval()
        out = np.empty((a.shape[0], self.config.num_joints, 3), np.float64)
        dev = self.device
        with torch.inference_mode():
            for s in range(0, a.shape[0], batch):
                x = torch.from_numpy(a[s:s + batch].copy()).unsqueeze(1).to(dev)
                lab = None
                if labels is not None and self.config.segmented:
                    lab = torch.from_numpy(np.asarray(labels[s:s + batch], np.int64)).to(dev)
                out[s:s + batch] = self(x, lab).double().cpu().numpy()
        return out


def build_regnet(config: RegNetConfig) -> RegNet:
    """A freshly initialised f_r for ``config`` (float32, CPU, training mode)."""
    if not isinstance(config, RegNetConfig):
        raise TypeError(f"build_regnet needs a RegNetConfig, got {type(config).__name__}")
    return RegNet(config)


# ----------------------------------------------------------------------------- coordinates

def uvd_to_target(uvd: np.ndarray, tfs: np.ndarray) -> np.ndarray:
    """Full-frame joints ``(N, J, 3)`` (u, v px, d mm) and crop transforms ``(N, 11)`` ->
    f_r targets ``(N, J, 3)`` float32 (see the module docstring)."""
    uvd, tfs = np.asarray(uvd, np.float64), np.asarray(tfs, np.float64)
    out = np.empty(uvd.shape, np.float32)
    for i in range(len(uvd)):
        tf = CropTransform.from_array(tfs[i])
        c = tf.frame_to_crop(uvd[i])
        out[i, :, 0] = (2 * c[:, 0] + 1) / tf.size - 1
        out[i, :, 1] = (2 * c[:, 1] + 1) / tf.size - 1
        out[i, :, 2] = c[:, 2]
    return out


def target_to_uvd(target: np.ndarray, tfs: np.ndarray) -> np.ndarray:
    """Inverse of :func:`uvd_to_target`: ``(N, J, 3)`` -> full-frame u, v, d float64."""
    target, tfs = np.asarray(target, np.float64), np.asarray(tfs, np.float64)
    out = np.empty(target.shape, np.float64)
    for i in range(len(target)):
        tf = CropTransform.from_array(tfs[i])
        c = np.empty(target[i].shape)
        c[:, 0] = ((target[i, :, 0] + 1) * tf.size - 1) / 2
        c[:, 1] = ((target[i, :, 1] + 1) * tf.size - 1) / 2
        c[:, 2] = target[i, :, 2]
        out[i] = tf.crop_to_frame(c)
    return out
