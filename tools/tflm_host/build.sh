#!/usr/bin/env bash
# Rebuild TFLM (host, x86-64 Linux) + harness from scratch.
#   ./build.sh                 -> sources, third_party, build/libtflm.a, harness for every fw_*/ folder present
#   JOBS=2 ./build.sh          (default 2; runs under nice)
set -euo pipefail
cd "$(dirname "$0")"
JOBS=${JOBS:-2}
TFLM_GIT=${TFLM_GIT:-/work/.mirror/tensorflow+tflite-micro/repo}
FB_GIT=${FB_GIT:-/work/.mirror/google+flatbuffers/repo}
GL_GIT=${GL_GIT:-/work/.mirror/google+gemmlowp/repo}
RUY_GIT=${RUY_GIT:-/work/.mirror/google+ruy/repo}
# Versions pinned by TFLM's tensorflow/lite/micro/tools/make/third_party_downloads.inc
TFLM_REV=${TFLM_REV:-HEAD}
FB_REV=v25.9.23
GL_REV=719139ce755a0f31cbf1c37f7f98adcc7fc9f425
RUY_REV=d37128311b445e758136b8602d1bbd2a755e115d

rm -rf tflite-micro third_party build
mkdir -p tflite-micro third_party
git --git-dir=$TFLM_GIT archive "$TFLM_REV" | tar -x -C tflite-micro
git --git-dir=$FB_GIT  archive --prefix=flatbuffers/ $FB_REV include | tar -x -C third_party
git --git-dir=$GL_GIT  archive --prefix=gemmlowp/ $GL_REV | tar -x -C third_party
git --git-dir=$RUY_GIT archive --prefix=ruy/ $RUY_REV | tar -x -C third_party
# TFLM's own flatbuffers patch (what its Makefile download applies): no default allocator / string pool,
# FLATBUFFERS_LOCALE_INDEPENDENT=0.
(cd third_party/flatbuffers && patch -p1 -s < ../../tflite-micro/tensorflow/lite/micro/tools/make/flatbuffers.patch)

time nice make -j"$JOBS" lib
for fw in fw_*/; do
  [ -f "$fw/model_data.cc" ] || continue
  nice make harness FIRMWARE_DIR="${fw%/}"
done
