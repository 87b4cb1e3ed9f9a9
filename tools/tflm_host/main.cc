// Host harness for squeezekit-generated TFLM firmware files (model_data.h/.cc, model_ops.h).
//
//   harness [input.bin]     static arena of kTensorArenaSize bytes (16-byte aligned), MicroProfiler attached:
//                           AllocateTensors, arena_used_bytes(), Invoke on a deterministic input (or the raw
//                           bytes of input.bin), the output as a line of integers, then the profiler's
//                           Log(), LogCsv() and LogTicksPerTagCsv().
//   harness --arena N       heap arena of exactly N bytes (16-byte aligned): does AllocateTensors succeed?
//                           (exit 0 yes, 1 no)
//   harness --min-arena     bisects (in-process, to 16 bytes) the smallest arena AllocateTensors succeeds in.
//   harness --recording --arena N | --min-arena
//                           the same, allocating as the Python tflite_micro package does (RecordingMicroAllocator).
//
// Harness lines go to stdout; TFLM's MicroPrintf (so the profiler logs and any TFLM error) go to stderr.
// Capture with 2>&1 to get one log in order (stdout is line-buffered here).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <fcntl.h>

#include "model_data.h"
#include "model_ops.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/micro/micro_profiler.h"
#include "tensorflow/lite/micro/micro_time.h"
#include "tensorflow/lite/micro/recording_micro_allocator.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace {

alignas(16) uint8_t g_tensor_arena[kTensorArenaSize];
// --recording: arena modes allocate the way the Python tflite_micro package does by default
// (InterpreterConfig.kAllocationRecording: RecordingMicroAllocator::Create(arena, size), then
// MicroInterpreter(model, resolver, allocator)), instead of MicroInterpreter(model, resolver, arena, size).
bool g_recording = false;
bool g_print_allocations = false;  // --recording --arena N: also RecordingMicroAllocator::PrintAllocations()

const char* TypeName(TfLiteType t) { return TfLiteTypeGetName(t); }

void PrintTensorInfo(const char* what, const TfLiteTensor* t) {
  printf("%s: type=%s bytes=%zu dims=[", what, TypeName(t->type), t->bytes);
  for (int i = 0; i < t->dims->size; ++i) printf(i ? ",%d" : "%d", t->dims->data[i]);
  printf("] scale=%g zero_point=%d\n", static_cast<double>(t->params.scale), t->params.zero_point);
}

void PrintValues(const TfLiteTensor* t) {
  const size_t n = t->bytes;
  switch (t->type) {
    case kTfLiteInt8:
      for (size_t i = 0; i < n; ++i) printf(i ? " %d" : "%d", t->data.int8[i]);
      break;
    case kTfLiteUInt8:
      for (size_t i = 0; i < n; ++i) printf(i ? " %u" : "%u", t->data.uint8[i]);
      break;
    case kTfLiteInt16:
      for (size_t i = 0; i < n / 2; ++i) printf(i ? " %d" : "%d", t->data.i16[i]);
      break;
    case kTfLiteInt32:
      for (size_t i = 0; i < n / 4; ++i) printf(i ? " %d" : "%d", static_cast<int>(t->data.i32[i]));
      break;
    case kTfLiteFloat32:
      for (size_t i = 0; i < n / 4; ++i) printf(i ? " %.6g" : "%.6g", static_cast<double>(t->data.f[i]));
      break;
    default:  // raw bytes
      for (size_t i = 0; i < n; ++i) printf(i ? " %u" : "%u", t->data.uint8[i]);
  }
  printf("\n");
}

// Deterministic fill: a fixed-seed LCG over the raw bytes (covers the whole int8/uint8 range).
void FillPattern(TfLiteTensor* t) {
  uint32_t s = 12345u;
  if (t->type == kTfLiteFloat32) {
    for (size_t i = 0; i < t->bytes / 4; ++i) {
      s = s * 1664525u + 1013904223u;
      t->data.f[i] = static_cast<float>((s >> 24) & 0xff) / 255.0f;
    }
    return;
  }
  for (size_t i = 0; i < t->bytes; ++i) {
    s = s * 1664525u + 1013904223u;
    t->data.uint8[i] = static_cast<uint8_t>(s >> 24);
  }
}

bool BuildResolver(ModelOpResolver& resolver) {
  if (RegisterModelOps(resolver) != kTfLiteOk) {
    printf("RegisterModelOps failed\n");
    return false;
  }
  return true;
}

// Tries AllocateTensors with an arena of exactly `size` bytes starting at a 16-byte aligned heap address.
bool TryArena(const tflite::Model* model, const ModelOpResolver& resolver, size_t size, size_t* used) {
  uint8_t* raw = static_cast<uint8_t*>(malloc(size + 16));
  if (!raw) return false;
  uint8_t* arena = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(raw) + 15) & ~uintptr_t{15});
  bool ok;
  if (g_recording) {
    tflite::RecordingMicroAllocator* allocator = tflite::RecordingMicroAllocator::Create(arena, size);
    ok = allocator != nullptr;
    if (ok) {
      tflite::MicroInterpreter interpreter(model, resolver, allocator);
      ok = interpreter.AllocateTensors() == kTfLiteOk;
      if (ok && used) *used = interpreter.arena_used_bytes();
      if (ok && g_print_allocations) allocator->PrintAllocations();
    }
  } else {
    tflite::MicroInterpreter interpreter(model, resolver, arena, size);
    ok = interpreter.AllocateTensors() == kTfLiteOk;
    if (ok && used) *used = interpreter.arena_used_bytes();
  }
  free(raw);
  return ok;
}

int ArenaMode(const tflite::Model* model, const ModelOpResolver& resolver, size_t size) {
  size_t used = 0;
  g_print_allocations = g_recording;
  const bool ok = TryArena(model, resolver, size, &used);
  printf("arena %zu bytes: AllocateTensors %s", size, ok ? "OK" : "FAILED");
  if (ok) printf(" (arena_used_bytes=%zu)", used);
  printf("\n");
  return ok ? 0 : 1;
}

int MinArenaMode(const tflite::Model* model, const ModelOpResolver& resolver) {
  // Silence TFLM's "arena too small" errors while bisecting.
  fflush(stderr);
  const int saved = dup(2);
  const int devnull = open("/dev/null", O_WRONLY);
  dup2(devnull, 2);
  size_t hi = ((kTensorArenaSize + 15) / 16) * 16;
  while (!TryArena(model, resolver, hi, nullptr)) hi *= 2;
  size_t lo = 0;  // fails (in units of bytes, multiples of 16)
  while (hi - lo > 16) {
    size_t mid = ((lo + hi) / 2 / 16) * 16;
    if (mid <= lo) mid = lo + 16;
    if (TryArena(model, resolver, mid, nullptr)) hi = mid; else lo = mid;
  }
  size_t used = 0;
  TryArena(model, resolver, hi, &used);
  const bool below_fails = !TryArena(model, resolver, hi - 16, nullptr);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(devnull);
  printf("min_arena_bytes=%zu (to 16 bytes; %zu bytes %s) arena_used_bytes_at_min=%zu "
         "kTensorArenaMeasuredBytes=%zu diff=%+ld\n",
         hi, hi - 16, below_fails ? "fails" : "SUCCEEDS?!", used, kTensorArenaMeasuredBytes,
         static_cast<long>(hi) - static_cast<long>(kTensorArenaMeasuredBytes));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  const tflite::Model* model = tflite::GetModel(g_model_data);
  printf("model: %u bytes, schema version %u (TFLITE_SCHEMA_VERSION %d)\n", g_model_data_len,
         static_cast<unsigned>(model->version()), TFLITE_SCHEMA_VERSION);
  printf("kTensorArenaSize=%zu kTensorArenaMeasuredBytes=%zu kTensorArenaMarginBytes=%zu kModelOpCount=%u\n",
         kTensorArenaSize, kTensorArenaMeasuredBytes, kTensorArenaMarginBytes, kModelOpCount);

  static ModelOpResolver resolver;
  if (!BuildResolver(resolver)) return 2;

  if (argc >= 2 && strcmp(argv[1], "--recording") == 0) {
    g_recording = true;
    printf("allocator: RecordingMicroAllocator (as the Python tflite_micro package)\n");
    ++argv;
    --argc;
  }
  if (argc >= 3 && strcmp(argv[1], "--arena") == 0) {
    return ArenaMode(model, resolver, strtoull(argv[2], nullptr, 10));
  }
  if (argc >= 2 && strcmp(argv[1], "--min-arena") == 0) {
    return MinArenaMode(model, resolver);
  }

  static tflite::MicroProfiler profiler;
  static tflite::MicroInterpreter interpreter(model, resolver, g_tensor_arena, kTensorArenaSize,
                                              /*resource_variables=*/nullptr, &profiler);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    printf("AllocateTensors FAILED with kTensorArenaSize=%zu\n", kTensorArenaSize);
    return 1;
  }
  printf("AllocateTensors OK with kTensorArenaSize=%zu\n", kTensorArenaSize);
  printf("arena_used_bytes=%zu kTensorArenaMeasuredBytes=%zu diff=%+ld\n", interpreter.arena_used_bytes(),
         kTensorArenaMeasuredBytes,
         static_cast<long>(interpreter.arena_used_bytes()) - static_cast<long>(kTensorArenaMeasuredBytes));
  printf("inputs=%zu outputs=%zu\n", interpreter.inputs_size(), interpreter.outputs_size());

  TfLiteTensor* input = interpreter.input(0);
  PrintTensorInfo("input", input);
  if (argc >= 2) {
    FILE* f = fopen(argv[1], "rb");
    if (!f) { printf("cannot open %s\n", argv[1]); return 2; }
    const size_t got = fread(input->data.raw, 1, input->bytes, f);
    fclose(f);
    if (got != input->bytes) { printf("%s: read %zu bytes, input needs %zu\n", argv[1], got, input->bytes); return 2; }
    printf("input: %zu raw bytes from %s\n", got, argv[1]);
  } else {
    FillPattern(input);
    printf("input: deterministic LCG pattern (seed 12345)\n");
  }

  // Events recorded so far belong to AllocateTensors (Init/Prepare); keep only Invoke's.
  profiler.ClearEvents();
  if (interpreter.Invoke() != kTfLiteOk) {
    printf("Invoke FAILED\n");
    return 1;
  }
  printf("Invoke OK: %u ticks total (ticks_per_second=%u)\n", static_cast<unsigned>(profiler.GetTotalTicks()),
         static_cast<unsigned>(tflite::ticks_per_second()));
  TfLiteTensor* output = interpreter.output(0);
  PrintTensorInfo("output", output);
  printf("output values: ");
  PrintValues(output);

  printf("=== MicroProfiler::Log() ===\n");
  fflush(stdout);
  profiler.Log();
  fflush(stderr);
  printf("=== MicroProfiler::LogCsv() ===\n");
  fflush(stdout);
  profiler.LogCsv();
  fflush(stderr);
  printf("=== MicroProfiler::LogTicksPerTagCsv() ===\n");
  fflush(stdout);
  profiler.LogTicksPerTagCsv();
  fflush(stderr);
  printf("=== done ===\n");
  return 0;
}
