// facekit/facekit.hpp: the whole library. Include the individual headers to compile less.
#pragma once
#include "version.hpp"

#include "core/error.hpp"
#include "core/json.hpp"
#include "core/safetensors.hpp"
#include "core/safetensors_writer.hpp"
#include "core/tensor.hpp"
#include "core/thread_pool.hpp"
#include "core/workspace.hpp"

#include "nn/backends.hpp"
#include "nn/layers.hpp"
#include "nn/ops.hpp"

#include "models/inception_resnet_v1.hpp"
#include "models/mobilefacenet.hpp"
#include "models/mtcnn.hpp"

#include "pipeline/align.hpp"
#include "pipeline/detection.hpp"
#include "pipeline/detector.hpp"
#include "pipeline/draw.hpp"
#include "pipeline/embedder.hpp"
#include "pipeline/image.hpp"
#include "pipeline/resample.hpp"

#include "eval/lfw.hpp"
#include "eval/metrics.hpp"
#include "eval/thresholds.hpp"

#include "gallery/gallery.hpp"
#include "gallery/gallery_io.hpp"
