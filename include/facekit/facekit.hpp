// facekit/facekit.hpp: the whole library. Include the individual headers to compile less.
//
// A map. Data flows one way, one folder per stage, a plain value type between stages:
//
//   io/        Image            load_image (stb_image; JPEG as PIL decodes it; EXIF orientation),
//                               resampling (area, Pillow's bilinear), drawing
//   detect/    Detection        MTCNN's P-, R-, O-Net (mtcnn.hpp), the detector: pyramid, NMS, box
//                               regression, 5 landmarks (detector.hpp)
//   align/     Image (a crop)   facenet-style crop with margin, 5-point similarity alignment
//   embed/     Embedding        Inception-ResNet-v1 and MobileFaceNet, the Embedder that aligns and embeds
//   identify/  GallerySearch    the k-NN gallery and its file format
//   eval/      figures          distances, LFW 10-fold, thresholds, clustering
//
// types.hpp holds the values that cross stages (Detection, Point). Beneath the stages, engine/ knows
// nothing about faces: tensors and views, the convolution spec, layers as templates over a backend
// (engine/backend.hpp documents the interface; engine/backends/: reference, eigen, xsimd), the weights
// file, the thread pool and workspace. A folder includes only the ones beneath it (tests/check_layout.py).
//
// Failures raise facekit::Error, or without exceptions call one hook; what fails on input also has a try_
// form returning a Status (engine/error.hpp). For a fixed memory budget: Detector::reserve and
// Embedder::reserve, then detect(img, faces), align(photo, face, crop), embed(crop, out) (README).
// Weights packed by `facekit pack` are read where they lie, in flash or a mapped file (engine/prepacked.hpp).
//
// Where to start reading: the README's C++ example, then detect/detector.hpp and embed/embedder.hpp; for the
// engine, engine/layers.hpp, then engine/backends/reference.hpp (the arithmetic, in plain loops).
#pragma once
#include "engine/intrinsics.hpp"  // first, so that its GCC 12 workaround holds (see there)
#include "version.hpp"

#include "engine/backend.hpp"
#include "engine/backends.hpp"
#include "engine/conv_spec.hpp"
#include "engine/error.hpp"
#include "engine/json.hpp"
#include "engine/layers.hpp"
#include "engine/ops.hpp"
#include "engine/prepacked.hpp"
#include "engine/prepacked_writer.hpp"
#include "engine/quant.hpp"
#include "engine/safetensors.hpp"
#include "engine/safetensors_writer.hpp"
#include "engine/tensor.hpp"
#include "engine/thread_pool.hpp"
#include "engine/weights.hpp"
#include "engine/workspace.hpp"

#include "types.hpp"

#include "io/draw.hpp"
#include "io/exif.hpp"
#include "io/font.hpp"
#include "io/image.hpp"
#include "io/jpeg.hpp"
#include "io/resample.hpp"
#include "io/stb.hpp"

#include "detect/detector.hpp"
#include "detect/mtcnn.hpp"
#include "detect/nms.hpp"

#include "align/align.hpp"

#include "embed/embedder.hpp"
#include "embed/inception_resnet_v1.hpp"
#include "embed/mobilefacenet.hpp"

#include "identify/gallery.hpp"
#include "identify/gallery_io.hpp"

#include "eval/cluster.hpp"
#include "eval/lfw.hpp"
#include "eval/metrics.hpp"
#include "eval/thresholds.hpp"
