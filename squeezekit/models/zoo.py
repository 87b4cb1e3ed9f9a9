"""Every built-in model, one row per (name, convention), as data: the registry registers ``ROWS`` in order.

A name's first row is its default convention. ``expected`` holds the reference figures the builders are held to
(trainable parameters, MACs at 224 and at 227; sources in docs/reference.md); ``tests/models/test_registry.py``
builds every row and checks them. ``weights`` is what a publisher hosts for the row: osmr/imgclsmob's tf2cv
model store (tf2cv 0.0.18 ``model_store.py``: file, SHA-1, release; top-1/top-5 error from imgclsmob's
tensorflow2/README.md). To add a variant, add a row (BUILD.md, "Adding a variant").
"""

from __future__ import annotations

from squeezekit.models.spec import (CAFFE, IMAGENET_RGB, OFFICIAL, RECONSTRUCTION, SEARCH, THIRD_PARTY, ModelSpec,
                                    Weights)


def _row(name, family, convention, paper_name, provenance, source, config, preprocessing, aliases=(), expected=None,
         notes="", weights=None) -> ModelSpec:
    return ModelSpec(name=name, family=family, paper_name=paper_name, convention=convention, provenance=provenance,
                     source=source, config=dict(config, convention=convention), preprocessing=preprocessing,
                     aliases=tuple(aliases), expected=dict(expected or {}), notes=notes, weights=weights)


_STORE = "https://github.com/osmr/imgclsmob/releases/download/v0.0.422/"
_METRICS = "osmr/imgclsmob tensorflow2/README.md (c1a844d), ImageNet-1K val, 1 crop at 224"


def _tf2cv(store_name, file_name, sha1, top1_error, top5_error) -> Weights:
    return Weights(format="tf2cv", store_name=store_name, file_name=file_name, url=_STORE + file_name + ".zip",
                   sha1=sha1, top1_error=top1_error, top5_error=top5_error, metrics_source=_METRICS)


# ---------------------------------------------------------------------------------------------------------------
# SqueezeNet. torchvision and imgclsmob count MACs at 224, the Caffe files at 227 (v1.0's conv10 has padding 1
# there). The simple bypass adds no weights; the complex bypass's count assumes biased 1x1 convs.

_SQN = "forresti/SqueezeNet Caffe definitions; torchvision squeezenet.py"
_SQN_BYPASS = "forresti/SqueezeNet simple bypass"
_COMPLEX = "SqueezeNet paper section 6 (no released definition)"
_BYPASS_NOTES = "identity adds around fire3, 5, 7, 9"
_COMPLEX_NOTES = "complex bypass: biased, linear 1x1 convs around fire2, 4, 6, 8 (assumed)"
_V10, _V11 = dict(version="1.0", bypass="none"), dict(version="1.1", bypass="none")
_V10B, _V11B = dict(version="1.0", bypass="simple"), dict(version="1.1", bypass="simple")
_V10C, _V11C = dict(version="1.0", bypass="complex"), dict(version="1.1", bypass="complex")
_P10, _P11 = 1_248_424, 1_235_496

SQUEEZENET = [
    _row("squeezenet1_0", "squeezenet", "torchvision", "SqueezeNet 1.0", OFFICIAL, _SQN, _V10, IMAGENET_RGB,
         ("squeezenet_v1_0", "squeezenet"), dict(trainable_params=_P10, macs_224=818_924_576)),
    _row("squeezenet1_0", "squeezenet", "imgclsmob", "SqueezeNet 1.0", THIRD_PARTY, "osmr/imgclsmob squeezenet_v1_0",
         _V10, IMAGENET_RGB, ("squeezenet_v1_0", "squeezenet"), dict(trainable_params=_P10, macs_224=818_924_576),
         weights=_tf2cv("squeezenet_v1_0", "squeezenet_v1_0-1760-d13ba732.tf2.h5",
                        "d13ba73265325f21eb34e782989a7269cad406c6", 39.23, 17.60)),
    _row("squeezenet1_0", "squeezenet", "caffe", "SqueezeNet 1.0", OFFICIAL, _SQN, _V10, CAFFE,
         ("squeezenet_v1_0", "squeezenet"), dict(trainable_params=_P10, macs_227=861_339_936)),

    _row("squeezenet1_0_bypass", "squeezenet", "torchvision", "SqueezeNet 1.0 simple bypass", OFFICIAL, _SQN_BYPASS,
         _V10B, IMAGENET_RGB, ("squeezeresnet_v1_0",), dict(trainable_params=_P10, macs_224=818_924_576),
         _BYPASS_NOTES),
    _row("squeezenet1_0_bypass", "squeezenet", "imgclsmob", "SqueezeNet 1.0 simple bypass", THIRD_PARTY,
         "osmr/imgclsmob squeezeresnet_v1_0", _V10B, IMAGENET_RGB, ("squeezeresnet_v1_0",),
         dict(trainable_params=_P10, macs_224=818_924_576), _BYPASS_NOTES,
         weights=_tf2cv("squeezeresnet_v1_0", "squeezeresnet_v1_0-1783-db620d99.tf2.h5",
                        "db620d998257c84fd6d5e80bba48cc1022febda3", 39.38, 17.83)),
    _row("squeezenet1_0_bypass", "squeezenet", "caffe", "SqueezeNet 1.0 simple bypass", OFFICIAL, _SQN_BYPASS,
         _V10B, CAFFE, ("squeezeresnet_v1_0",), dict(trainable_params=_P10, macs_227=861_339_936), _BYPASS_NOTES),

    _row("squeezenet1_0_complex_bypass", "squeezenet", "torchvision", "SqueezeNet 1.0 complex bypass",
         RECONSTRUCTION, _COMPLEX, _V10C, IMAGENET_RGB, (), dict(trainable_params=1_589_672), _COMPLEX_NOTES),
    _row("squeezenet1_0_complex_bypass", "squeezenet", "caffe", "SqueezeNet 1.0 complex bypass",
         RECONSTRUCTION, _COMPLEX, _V10C, CAFFE, (), dict(trainable_params=1_589_672), _COMPLEX_NOTES),

    _row("squeezenet1_1", "squeezenet", "torchvision", "SqueezeNet 1.1", OFFICIAL, _SQN, _V11, IMAGENET_RGB,
         ("squeezenet_v1_1",), dict(trainable_params=_P11, macs_224=349_151_936)),
    _row("squeezenet1_1", "squeezenet", "imgclsmob", "SqueezeNet 1.1", THIRD_PARTY, "osmr/imgclsmob squeezenet_v1_1",
         _V11, IMAGENET_RGB, ("squeezenet_v1_1",), dict(trainable_params=_P11, macs_224=349_151_936),
         weights=_tf2cv("squeezenet_v1_1", "squeezenet_v1_1-1742-95b61448.tf2.h5",
                        "95b614487f1f0572bd0dba18e0fc6d63df3a6bfc", 39.12, 17.42)),
    _row("squeezenet1_1", "squeezenet", "caffe", "SqueezeNet 1.1", OFFICIAL, _SQN, _V11, CAFFE,
         ("squeezenet_v1_1",), dict(trainable_params=_P11, macs_227=387_747_520)),

    # No Caffe file of 1.1 with bypass was released; imgclsmob's squeezeresnet_v1_1 is the definition.
    _row("squeezenet1_1_bypass", "squeezenet", "torchvision", "SqueezeNet 1.1 simple bypass", THIRD_PARTY,
         "osmr/imgclsmob squeezeresnet_v1_1", _V11B, IMAGENET_RGB, ("squeezeresnet_v1_1",),
         dict(trainable_params=_P11, macs_224=349_151_936), _BYPASS_NOTES),
    _row("squeezenet1_1_bypass", "squeezenet", "imgclsmob", "SqueezeNet 1.1 simple bypass", THIRD_PARTY,
         "osmr/imgclsmob squeezeresnet_v1_1", _V11B, IMAGENET_RGB, ("squeezeresnet_v1_1",),
         dict(trainable_params=_P11, macs_224=349_151_936), _BYPASS_NOTES,
         weights=_tf2cv("squeezeresnet_v1_1", "squeezeresnet_v1_1-1789-13d6bc6b.tf2.h5",
                        "13d6bc6bd85adf83ef55325443495feb07c5788f", 39.85, 17.89)),
    _row("squeezenet1_1_bypass", "squeezenet", "caffe", "SqueezeNet 1.1 simple bypass", THIRD_PARTY,
         "osmr/imgclsmob squeezeresnet_v1_1", _V11B, CAFFE, ("squeezeresnet_v1_1",),
         dict(trainable_params=_P11, macs_227=387_747_520), _BYPASS_NOTES),

    _row("squeezenet1_1_complex_bypass", "squeezenet", "torchvision", "SqueezeNet 1.1 complex bypass",
         RECONSTRUCTION, _COMPLEX, _V11C, IMAGENET_RGB, notes=_COMPLEX_NOTES),
    _row("squeezenet1_1_complex_bypass", "squeezenet", "caffe", "SqueezeNet 1.1 complex bypass",
         RECONSTRUCTION, _COMPLEX, _V11C, CAFFE, notes=_COMPLEX_NOTES),
]

# ---------------------------------------------------------------------------------------------------------------
# SqueezeNext. The official rows follow the Caffe files (stem and final conv not scaled by the width); the
# imgclsmob rows follow osmr/imgclsmob's port (biases, scaled stem and final conv, 23v5 wired like 23).

_SQNXT = "amirgholami/SqueezeNext Caffe definitions"
_ASSUMED = "same parametric code; official stem/final rule assumed"
_23 = dict(blocks=(6, 6, 8, 1), stem_kernel=7, wiring="23")
_23V5 = dict(blocks=(2, 4, 14, 1), stem_kernel=5, wiring="v5")
_34 = dict(blocks=(9, 9, 12, 2), stem_kernel=7, wiring="23")
_44 = dict(blocks=(12, 12, 16, 2), stem_kernel=7, wiring="23")


def _port(blocks, width):
    return dict(blocks=blocks, width_multiplier=width)


def _macs(params, macs_227, macs_224):
    return dict(trainable_params=params, macs_227=macs_227, macs_224=macs_224)


SQUEEZENEXT = [
    _row("sqnxt23_w1", "squeezenext", "official", "1.0-SqNxt-23", OFFICIAL, _SQNXT, dict(_23, width_multiplier=1.0),
         CAFFE, ("sqnxt23",), _macs(717_280, 277_999_808, 268_976_832)),
    _row("sqnxt23_w1", "squeezenext", "imgclsmob", "1.0-SqNxt-23", THIRD_PARTY, "osmr/imgclsmob sqnxt23_w1",
         _port((6, 6, 8, 1), 1.0), IMAGENET_RGB, ("sqnxt23",), dict(trainable_params=724_056),
         weights=_tf2cv("sqnxt23_w1", "sqnxt23_w1-1861-379975eb.tf2.h5",
                        "379975ebe54b180f52349c3737b17ea7b2613953", 42.31, 18.61)),
    _row("sqnxt23_w3d2", "squeezenext", "official", "1.5-SqNxt-23", RECONSTRUCTION, _ASSUMED,
         dict(_23, width_multiplier=1.5), CAFFE),
    _row("sqnxt23_w3d2", "squeezenext", "imgclsmob", "1.5-SqNxt-23", THIRD_PARTY, "osmr/imgclsmob sqnxt23_w3d2",
         _port((6, 6, 8, 1), 1.5), IMAGENET_RGB, (), dict(trainable_params=1_511_824),
         weights=_tf2cv("sqnxt23_w3d2", "sqnxt23_w3d2-1334-a2ba956c.tf2.h5",
                        "a2ba956cfeed0b4bbfc37776c6a1cd5ca13d9345", 34.62, 13.34)),
    _row("sqnxt23_w2", "squeezenext", "official", "2.0-SqNxt-23", OFFICIAL, _SQNXT, dict(_23, width_multiplier=2.0),
         CAFFE, (), _macs(2_361_728, 742_070_464, 719_066_816)),
    _row("sqnxt23_w2", "squeezenext", "imgclsmob", "2.0-SqNxt-23", THIRD_PARTY, "osmr/imgclsmob sqnxt23_w2",
         _port((6, 6, 8, 1), 2.0), IMAGENET_RGB, (), dict(trainable_params=2_583_752),
         weights=_tf2cv("sqnxt23_w2", "sqnxt23_w2-1069-f43dee19.tf2.h5",
                        "f43dee19c527460f9815fc4e5eeeaef99fae4df3", 30.12, 10.69)),

    _row("sqnxt23v5_w1", "squeezenext", "official", "1.0-SqNxt-23v5", OFFICIAL, _SQNXT,
         dict(_23V5, width_multiplier=1.0), CAFFE, ("sqnxt23v5",), _macs(930_016, 224_916_480, 222_046_464)),
    _row("sqnxt23v5_w1", "squeezenext", "imgclsmob", "1.0-SqNxt-23v5", THIRD_PARTY, "osmr/imgclsmob sqnxt23v5_w1",
         _port((2, 4, 14, 1), 1.0), IMAGENET_RGB, ("sqnxt23v5",), dict(trainable_params=921_816),
         weights=_tf2cv("sqnxt23v5_w1", "sqnxt23v5_w1-1762-153b4ce7.tf2.h5",
                        "153b4ce73714d2ecdca294efb365ab9c026e2f41", 40.44, 17.62)),
    _row("sqnxt23v5_w3d2", "squeezenext", "official", "1.5-SqNxt-23v5", RECONSTRUCTION, _ASSUMED,
         dict(_23V5, width_multiplier=1.5), CAFFE),
    _row("sqnxt23v5_w3d2", "squeezenext", "imgclsmob", "1.5-SqNxt-23v5", THIRD_PARTY,
         "osmr/imgclsmob sqnxt23v5_w3d2", _port((2, 4, 14, 1), 1.5), IMAGENET_RGB, (),
         dict(trainable_params=1_953_616),
         weights=_tf2cv("sqnxt23v5_w3d2", "sqnxt23v5_w3d2-1284-72efaa71.tf2.h5",
                        "72efaa710f0f1645cb220cb9950b3660299f2bed", 33.55, 12.84)),
    _row("sqnxt23v5_w2", "squeezenext", "official", "2.0-SqNxt-23v5", OFFICIAL, _SQNXT,
         dict(_23V5, width_multiplier=2.0), CAFFE, (), _macs(3_222_912, 702_592_000, 697_960_192)),
    _row("sqnxt23v5_w2", "squeezenext", "imgclsmob", "2.0-SqNxt-23v5", THIRD_PARTY, "osmr/imgclsmob sqnxt23v5_w2",
         _port((2, 4, 14, 1), 2.0), IMAGENET_RGB, (), dict(trainable_params=3_366_344),
         weights=_tf2cv("sqnxt23v5_w2", "sqnxt23v5_w2-1026-da80c640.tf2.h5",
                        "da80c6407a4c18be31bcdd08356666942a9ef2b4", 29.40, 10.26)),

    _row("sqnxt44_w1", "squeezenext", "official", "1.0-SqNxt-44", RECONSTRUCTION, _ASSUMED,
         dict(_44, width_multiplier=1.0), CAFFE, ("sqnxt44",)),
    _row("sqnxt44_w3d2", "squeezenext", "official", "1.5-SqNxt-44", RECONSTRUCTION, _ASSUMED,
         dict(_44, width_multiplier=1.5), CAFFE),
    _row("sqnxt44_w2", "squeezenext", "official", "2.0-SqNxt-44", THIRD_PARTY,
         "jolibrain/deepdetect squeezenext_2_44 Caffe template", dict(_44, width_multiplier=2.0), CAFFE, (),
         _macs(4_428_096, 1_342_861_504, 1_301_665_472)),

    _row("g_sqnxt23_w1", "squeezenext", "official", "1.0-G-SqNxt-23", OFFICIAL, _SQNXT,
         dict(_23, width_multiplier=1.0, groups=2), CAFFE, ("g_sqnxt23",), _macs(543_072, 224_191_552, 216_810_688)),
    _row("sqnxt34_w1", "squeezenext", "official", "1.0-SqNxt-34", RECONSTRUCTION,
         "same parametric code; 34's layout (9, 9, 12, 2) assumed", dict(_34, width_multiplier=1.0), CAFFE,
         ("sqnxt34",)),
    _row("sqnxt23_ida_w1", "squeezenext", "official", "1.0-SqNxt-23-IDA", RECONSTRUCTION,
         "IDA as in Deep Layer Aggregation (Yu et al. 2018); see squeezenext.py",
         dict(_23, width_multiplier=1.0, ida=True), CAFFE, ("sqnxt23_ida",)),

    # Found by the hardware-aware search (squeezekit/search): int8 on a 2-vCPU Zen 5 host, 1 thread.
    _row("sqnxt_cpu1", "squeezenext", "official", "SqNxt-CPU-1", SEARCH,
         "python -m squeezekit.search --target host --max_params 717280 --data mnist5k --epochs 15 "
         "--time_budget 600 (seed 0; 2-vCPU Zen 5, LiteRT 2.3.0, 2026-11-26)",
         dict(blocks=(2, 8, 4, 1), widths=(48, 96, 128, 256), width_multiplier=1.0, stem_kernel=5, stem_stride=2,
              stem_filters=32, final_filters=128, groups=1, wiring="v5", first_pool="stem"),
         CAFFE, ("sqnxt_search_cpu1",), dict(trainable_params=695_888, macs_224=240_592_896),
         "1.75x 1.0-SqNxt-23's int8 speed at 224 (1.147 vs 2.010 ms, 1 thread, side by side) with fewer "
         "params; mnist5k top-1 95.80% vs 93.20% (15 epochs, same recipe and seed)"),
]

ROWS = SQUEEZENET + SQUEEZENEXT
