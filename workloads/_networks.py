"""Op lists of the built-in non-transformer networks, built from their architecture data.

Each builder takes the architecture parameters stored in
``workloads/data/workloads.toml`` (channels, blocks, resolutions; sources
there and in ``vision_facts.md``) and expands them into per-sample ``Op``
lists: convolutions as implicit GEMMs with their real shapes, attention,
and the memory-bound passes between them.

Memory-traffic conventions (16-bit activations, bytes per output element):
a normalisation with its activation function reads its input twice (statistics,
then normalise) and writes once: ``NORM_ACT_BYTES``; a residual add or a
concatenation reads two inputs and writes one: ``ADD_BYTES``; pooling and
up-sampling read the input and write the output.
"""

from __future__ import annotations

import math

from workloads._ops import Op

__all__ = ["NETWORKS", "build_ops"]

NORM_ACT_BYTES = 6.0
ADD_BYTES = 6.0
ACT = 2.0  # bytes per activation element


class _Net:
    """Collects ops; shapes are (spatial..., channels) per sample."""

    def __init__(self, trainable=True, backward=True, norm_bytes=NORM_ACT_BYTES):
        self.ops: list[Op] = []
        self.norm_bytes = norm_bytes
        self.trainable = trainable
        self.backward = backward

    def _flags(self, trainable, backward):
        t = self.trainable if trainable is None else trainable
        b = self.backward if backward is None else backward
        return t, b

    def conv(
        self,
        name,
        spatial,
        cin,
        cout,
        kernel,
        stride=1,
        groups=1,
        norm=True,
        trainable=None,
        backward=None,
    ):
        """A convolution (``same`` padding) as an implicit GEMM; returns output spatial."""
        t, b = self._flags(trainable, backward)
        out = tuple(math.ceil(s / stride) for s in spatial)
        m = float(math.prod(out))
        k_vol = float(math.prod(kernel))
        self.ops.append(
            Op(
                name=name,
                kind="gemm",
                m=m,
                n=cout / groups,
                k=cin / groups * k_vol,
                count=float(groups),
                a_elems=float(math.prod(spatial)) * cin / groups,
                # Input planes within the kernel's half-width of a cut across
                # the first spatial axis (spatial parallelism exchanges them).
                halo_elems=float((kernel[0] - 1) // 2 * math.prod(spatial[1:]) * cin),
                trainable=t,
                backward=b,
            )
        )
        if norm and self.norm_bytes:
            self.elementwise(name + ".norm_act", self.norm_bytes * m * cout, backward=b)
        return out

    def transposed_conv(
        self, name, spatial, cin, cout, factor, dims, trainable=None, backward=None
    ):
        """A stride-``factor`` transposed convolution with kernel ``factor``: one
        GEMM per input position producing ``factor**dims`` outputs."""
        t, b = self._flags(trainable, backward)
        m = float(math.prod(spatial))
        self.ops.append(
            Op(
                name=name,
                kind="gemm",
                m=m,
                n=float(cout * factor**dims),
                k=float(cin),
                trainable=t,
                backward=b,
            )
        )
        return tuple(s * factor for s in spatial)

    def linear(self, name, tokens, cin, cout, trainable=None, backward=None):
        t, b = self._flags(trainable, backward)
        self.ops.append(
            Op(
                name=name,
                kind="gemm",
                m=float(tokens),
                n=float(cout),
                k=float(cin),
                trainable=t,
                backward=b,
            )
        )

    def attention(self, name, queries, keys, width, backward=None):
        _, b = self._flags(None, backward)
        self.ops.append(
            Op(
                name=name,
                kind="attention",
                m=float(queries),
                n=float(keys),
                k=float(width),
                trainable=False,
                backward=b,
            )
        )

    def elementwise(self, name, nbytes, backward=None):
        _, b = self._flags(None, backward)
        self.ops.append(
            Op(name=name, kind="elementwise", bytes=float(nbytes), trainable=False, backward=b)
        )


# ----------------------------------------------------------------------------
# ResNet-50 v1.5 and ResNeXt (bottleneck networks)
# ----------------------------------------------------------------------------


def _bottleneck_backbone(net: _Net, image, blocks, groups, width_per_group, frozen_stages):
    """ResNet / ResNeXt bottleneck backbone (stride on the 3x3 conv: v1.5).

    Returns the (spatial, channels) after each stage.
    """
    stage_flags = lambda i: (False, False) if i < frozen_stages else (None, None)  # noqa: E731
    t, b = stage_flags(0)
    sp = net.conv("stem.conv", (image, image), 3, 64, (7, 7), stride=2, trainable=t, backward=b)
    net.elementwise("stem.maxpool", ACT * (math.prod(sp) * 64 * 1.25), backward=b)
    sp = tuple(math.ceil(s / 2) for s in sp)
    cin = 64
    outs = []
    for i, n_blocks in enumerate(blocks):
        planes = 64 * 2**i
        width = int(planes * width_per_group / 64) * groups
        cout = planes * 4
        t, b = stage_flags(i + 1)
        for j in range(n_blocks):
            stride = 2 if (j == 0 and i > 0) else 1
            p = f"layer{i + 1}.{j}"
            net.conv(p + ".conv1", sp, cin, width, (1, 1), trainable=t, backward=b)
            out = net.conv(
                p + ".conv2",
                sp,
                width,
                width,
                (3, 3),
                stride=stride,
                groups=groups,
                trainable=t,
                backward=b,
            )
            net.conv(p + ".conv3", out, width, cout, (1, 1), trainable=t, backward=b)
            if j == 0:
                net.conv(
                    p + ".downsample", sp, cin, cout, (1, 1), stride=stride, trainable=t, backward=b
                )
            net.elementwise(p + ".add_relu", ADD_BYTES * math.prod(out) * cout, backward=b)
            sp, cin = out, cout
        outs.append((sp, cout))
    return outs


def resnet_ops(
    *, image_size, blocks, classes, groups=1, width_per_group=64, norm_bytes=NORM_ACT_BYTES, **_
):
    """ResNet-50 v1.5 style classifier: backbone, global average pool, FC.

    ``norm_bytes``: extra memory traffic of each BatchNorm+ReLU per output
    element (0 when fused into the neighbouring convolutions)."""
    net = _Net(norm_bytes=norm_bytes)
    outs = _bottleneck_backbone(net, image_size, blocks, groups, width_per_group, 0)
    sp, c = outs[-1]
    net.elementwise("avgpool", ACT * (math.prod(sp) * c + c))
    net.linear("fc", 1, c, classes)
    net.elementwise("softmax_xent", ACT * 3 * classes)
    return tuple(net.ops)


def retinanet_ops(
    *,
    image_size,
    blocks,
    classes,
    groups,
    width_per_group,
    frozen_stages,
    fpn_channels,
    anchors_per_position,
    head_convs,
    loss_bytes_per_element,
    norm_bytes=NORM_ACT_BYTES,
    **_,
):
    """RetinaNet: ResNeXt backbone (first ``frozen_stages`` frozen), FPN P3-P7,
    shared class and box subnets over every level, focal loss.

    ``norm_bytes``: extra memory traffic per output element of each
    normalisation+ReLU (and of the head's ReLUs); 0 when they are folded into
    the convolutions' epilogues."""
    net = _Net(norm_bytes=norm_bytes)
    outs = _bottleneck_backbone(net, image_size, blocks, groups, width_per_group, frozen_stages)
    f = fpn_channels
    levels = []
    # Lateral 1x1 and output 3x3 convs on C3-C5 (top-down adds), no norm.
    for i, (sp, c) in enumerate(outs[1:]):
        net.conv(f"fpn.lateral{i + 3}", sp, c, f, (1, 1), norm=False)
        net.conv(f"fpn.output{i + 3}", sp, f, f, (3, 3), norm=False)
        net.elementwise(f"fpn.topdown{i + 3}", ADD_BYTES * math.prod(sp) * f)
        levels.append(sp)
    # P6 and P7: stride-2 3x3 convs from P5 (torchvision LastLevelP6P7(256, 256)).
    sp6 = net.conv("fpn.p6", levels[-1], f, f, (3, 3), stride=2, norm=False)
    sp7 = net.conv("fpn.p7", sp6, f, f, (3, 3), stride=2, norm=False)
    levels += [sp6, sp7]
    positions = [math.prod(sp) for sp in levels]
    total = float(sum(positions))
    # Heads share weights across levels: one 3x3 convolution over all
    # positions of every level (a flat spatial extent of ``total``).
    for head, out_c in (("cls", anchors_per_position * classes), ("box", anchors_per_position * 4)):
        for j in range(head_convs):
            net.conv(f"head.{head}.conv{j}", (total,), f, f, (3, 3), norm=False)
            if norm_bytes:
                net.elementwise(f"head.{head}.relu{j}", ACT * 2 * total * f)
        net.conv(f"head.{head}.out", (total,), f, out_c, (3, 3), norm=False)
    # Sigmoid focal loss over every anchor and class, fused forward+backward.
    elements = total * anchors_per_position * classes
    net.elementwise("focal_loss", loss_bytes_per_element * elements, backward=False)
    return tuple(net.ops)


# ----------------------------------------------------------------------------
# 3D U-Net
# ----------------------------------------------------------------------------


def unet3d_ops(*, patch_size, in_channels, classes, filters, **_):
    """3D U-Net (MLPerf reference): two 3x3x3 conv + instance norm + ReLU per
    level, stride-2 downsampling conv, 2x2x2 transposed-conv upsampling,
    concatenated skips, 1x1x1 output conv."""
    net = _Net()
    k3 = (3, 3, 3)
    sp = (patch_size,) * 3
    net.conv("input.conv1", sp, in_channels, filters[0], k3, backward=True)
    net.conv("input.conv2", sp, filters[0], filters[0], k3)
    skips = [(sp, filters[0])]
    cin = filters[0]
    for i, c in enumerate(list(filters[1:]) + [filters[-1]]):
        sp = net.conv(f"down{i}.conv1", sp, cin, c, k3, stride=2)
        net.conv(f"down{i}.conv2", sp, c, c, k3)
        skips.append((sp, c))
        cin = c
    skips.pop()  # the bottleneck has no skip
    for i, (_, sc) in enumerate(reversed(skips)):
        sp = net.transposed_conv(f"up{i}.upsample", sp, cin, sc, 2, 3)
        net.elementwise(f"up{i}.concat", ADD_BYTES * math.prod(sp) * sc)
        net.conv(f"up{i}.conv1", sp, 2 * sc, sc, k3)
        net.conv(f"up{i}.conv2", sp, sc, sc, k3)
        cin = sc
    net.conv("output.conv", sp, cin, classes, (1, 1, 1), norm=False)
    net.elementwise("loss", ACT * 4 * math.prod(sp) * classes)
    return tuple(net.ops)


# ----------------------------------------------------------------------------
# Stable Diffusion v2: UNet (trained), OpenCLIP text encoder (frozen, forward)
# ----------------------------------------------------------------------------


def _resblock(net, name, sp, cin, cout, emb):
    net.elementwise(name + ".norm1", NORM_ACT_BYTES * math.prod(sp) * cin)
    net.conv(name + ".conv1", sp, cin, cout, (3, 3), norm=False)
    net.linear(name + ".emb", 1, emb, cout)
    net.elementwise(name + ".norm2", NORM_ACT_BYTES * math.prod(sp) * cout)
    net.conv(name + ".conv2", sp, cout, cout, (3, 3), norm=False)
    if cin != cout:
        net.conv(name + ".skip", sp, cin, cout, (1, 1), norm=False)
    net.elementwise(name + ".add", ADD_BYTES * math.prod(sp) * cout)


def _spatial_transformer(net, name, sp, c, context_tokens, context_dim, ff_mult):
    t = math.prod(sp)
    net.elementwise(name + ".norm", NORM_ACT_BYTES * t * c)
    net.linear(name + ".proj_in", t, c, c)
    net.elementwise(name + ".ln1", NORM_ACT_BYTES * t * c)
    net.linear(name + ".attn1.qkv", t, c, 3 * c)
    net.attention(name + ".attn1", t, t, c)
    net.linear(name + ".attn1.out", t, c, c)
    net.elementwise(name + ".add1", ADD_BYTES * t * c)
    net.elementwise(name + ".ln2", NORM_ACT_BYTES * t * c)
    net.linear(name + ".attn2.q", t, c, c)
    net.linear(name + ".attn2.kv", context_tokens, context_dim, 2 * c)
    net.attention(name + ".attn2", t, context_tokens, c)
    net.linear(name + ".attn2.out", t, c, c)
    net.elementwise(name + ".add2", ADD_BYTES * t * c)
    net.elementwise(name + ".ln3", NORM_ACT_BYTES * t * c)
    net.linear(name + ".ff.in", t, c, 2 * ff_mult * c)  # GEGLU: value and gate
    net.elementwise(name + ".ff.geglu", ACT * 3 * t * ff_mult * c)
    net.linear(name + ".ff.out", t, ff_mult * c, c)
    net.elementwise(name + ".add3", ADD_BYTES * t * c)
    net.linear(name + ".proj_out", t, c, c)
    net.elementwise(name + ".add_out", ADD_BYTES * t * c)


def sd_unet_ops(
    net: _Net,
    *,
    latent_size,
    latent_channels,
    model_channels,
    channel_mult,
    num_res_blocks,
    attention_levels,
    context_tokens,
    context_dim,
    ff_mult=4,
):
    """The SD v2 denoising UNet (ldm ``UNetModel``) on one latent."""
    emb = 4 * model_channels
    net.linear("time_embed.0", 1, model_channels, emb)
    net.linear("time_embed.2", 1, emb, emb)
    sp = (latent_size, latent_size)
    net.conv("conv_in", sp, latent_channels, model_channels, (3, 3), norm=False)
    skips = [model_channels]
    c = model_channels
    for level, mult in enumerate(channel_mult):
        for j in range(num_res_blocks):
            _resblock(net, f"down{level}.{j}", sp, c, model_channels * mult, emb)
            c = model_channels * mult
            if level in attention_levels:
                _spatial_transformer(
                    net, f"down{level}.{j}.st", sp, c, context_tokens, context_dim, ff_mult
                )
            skips.append(c)
        if level != len(channel_mult) - 1:
            sp = net.conv(f"down{level}.downsample", sp, c, c, (3, 3), stride=2, norm=False)
            skips.append(c)
    _resblock(net, "mid.0", sp, c, c, emb)
    _spatial_transformer(net, "mid.st", sp, c, context_tokens, context_dim, ff_mult)
    _resblock(net, "mid.1", sp, c, c, emb)
    for level, mult in reversed(list(enumerate(channel_mult))):
        for j in range(num_res_blocks + 1):
            skip = skips.pop()
            net.elementwise(f"up{level}.{j}.concat", ADD_BYTES * math.prod(sp) * (c + skip))
            _resblock(net, f"up{level}.{j}", sp, c + skip, model_channels * mult, emb)
            c = model_channels * mult
            if level in attention_levels:
                _spatial_transformer(
                    net, f"up{level}.{j}.st", sp, c, context_tokens, context_dim, ff_mult
                )
        if level != 0:
            sp = tuple(2 * s for s in sp)
            net.elementwise(f"up{level}.upsample", ACT * 5 * math.prod(sp) * c / 4)
            net.conv(f"up{level}.upsample.conv", sp, c, c, (3, 3), norm=False)
    net.elementwise("out.norm", NORM_ACT_BYTES * math.prod(sp) * c)
    net.conv("out.conv", sp, c, latent_channels, (3, 3), norm=False)
    net.elementwise("loss", ACT * 4 * math.prod(sp) * latent_channels)


def text_encoder_ops(net: _Net, *, tokens, width, layers, mlp_ratio):
    """A pre-LN transformer text encoder run forward only (frozen)."""
    for i in range(layers):
        p = f"text.{i}"
        net.elementwise(p + ".ln1", NORM_ACT_BYTES * tokens * width, backward=False)
        net.linear(p + ".qkv", tokens, width, 3 * width, trainable=False, backward=False)
        net.attention(p + ".attn", tokens, tokens, width, backward=False)
        net.linear(p + ".out", tokens, width, width, trainable=False, backward=False)
        net.elementwise(p + ".ln2", NORM_ACT_BYTES * tokens * width, backward=False)
        net.linear(p + ".fc1", tokens, width, mlp_ratio * width, trainable=False, backward=False)
        net.elementwise(p + ".gelu", ACT * 2 * tokens * mlp_ratio * width, backward=False)
        net.linear(p + ".fc2", tokens, mlp_ratio * width, width, trainable=False, backward=False)


def stable_diffusion_ops(*, unet, text_encoder, **_):
    """One training sample: the text encoder forward (frozen; ``layers = 0``
    when captions are encoded offline) and the UNet forward and backward on a
    precomputed latent."""
    net = _Net()
    text_encoder_ops(net, **text_encoder)
    sd_unet_ops(net, **unet)
    return tuple(net.ops)


# ----------------------------------------------------------------------------
# DLRM-DCNv2: model-parallel embedding tables, data-parallel dense layers
# ----------------------------------------------------------------------------


def dlrm_ops(
    *,
    table_rows,
    lookups_per_table,
    embedding_dim,
    dense_features,
    bottom_mlp,
    top_mlp,
    cross_layers,
    cross_rank,
    table_bytes_per_element,
    **_,
):
    """DLRM with a DCN-v2 interaction (TorchRec reference).

    Embedding tables are sharded over the accelerators (model parallel): each
    sample's rows are gathered where their table lives (``lookups x dim``
    elements of ``table_bytes_per_element``), sum-pooled, and the pooled
    16-bit vectors sent to the sample's data-parallel rank (all-to-all);
    backward returns their gradients and updates the rows (Adagrad: read and
    write the row and its state, 4x the forward gather). The dense MLPs and
    the cross network are ordinary GEMMs with one row per sample.
    """
    if len(table_rows) != len(lookups_per_table):
        raise ValueError(
            f"dlrm: table_rows has {len(table_rows)} entries but lookups_per_table has "
            f"{len(lookups_per_table)}; give one lookup count per table"
        )
    net = _Net()
    lookups = float(sum(lookups_per_table))
    tables = len(table_rows)
    net.ops.append(
        Op(
            name="embeddings",
            kind="embedding",
            bytes=lookups * embedding_dim * table_bytes_per_element,
            exchange_bytes=float(tables * embedding_dim * ACT),
            trainable=True,
            backward=True,
        )
    )
    cin = dense_features
    for i, width in enumerate(bottom_mlp):
        net.linear(f"bottom.{i}", 1, cin, width)
        net.elementwise(f"bottom.{i}.relu", ACT * 2 * width)
        cin = width
    x0 = (tables + 1) * embedding_dim
    net.elementwise("interaction.concat", ACT * 2 * x0)
    for i in range(cross_layers):
        net.linear(f"cross.{i}.v", 1, x0, cross_rank)
        net.linear(f"cross.{i}.u", 1, cross_rank, x0)
        net.elementwise(f"cross.{i}.combine", ACT * 4 * x0)
    cin = x0
    for i, width in enumerate(top_mlp):
        net.linear(f"top.{i}", 1, cin, width)
        net.elementwise(f"top.{i}.relu", ACT * 2 * width)
        cin = width
    return tuple(net.ops)


NETWORKS = {
    "resnet": resnet_ops,
    "retinanet": retinanet_ops,
    "unet3d": unet3d_ops,
    "stable_diffusion": stable_diffusion_ops,
    "dlrm": dlrm_ops,
}


def build_ops(network: str, architecture: dict) -> tuple[Op, ...]:
    """Training ops of a network from its architecture parameters.

    Raises:
        ValueError: unknown network name.
    """
    if network not in NETWORKS:
        raise ValueError(f"network={network!r} is not known; allowed: {sorted(NETWORKS)}")
    return NETWORKS[network](**architecture)
