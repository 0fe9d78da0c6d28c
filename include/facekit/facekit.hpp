// facekit/facekit.hpp: the whole library. Include the individual headers to compile less.
#pragma once
#include "version.hpp"

#include "engine/error.hpp"
#include "engine/json.hpp"
#include "engine/safetensors.hpp"
#include "engine/safetensors_writer.hpp"
#include "engine/tensor.hpp"
#include "engine/thread_pool.hpp"
#include "engine/workspace.hpp"

#include "engine/backends.hpp"
#include "engine/layers.hpp"
#include "engine/ops.hpp"

#include "embed/inception_resnet_v1.hpp"
#include "embed/mobilefacenet.hpp"
#include "detect/mtcnn.hpp"

#include "align/align.hpp"
#include "types.hpp"
#include "detect/detector.hpp"
#include "io/draw.hpp"
#include "embed/embedder.hpp"
#include "io/image.hpp"
#include "io/resample.hpp"

#include "eval/lfw.hpp"
#include "eval/metrics.hpp"
#include "eval/thresholds.hpp"

#include "identify/gallery.hpp"
#include "identify/gallery_io.hpp"
