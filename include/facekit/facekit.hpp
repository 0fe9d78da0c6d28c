// facekit/facekit.hpp: the whole library. Include the individual headers to compile less.
#pragma once
#include "version.hpp"
#include "core/error.hpp"
#include "core/json.hpp"
#include "core/safetensors.hpp"
#include "core/tensor.hpp"
#include "core/thread_pool.hpp"
#include "core/workspace.hpp"
#include "nn/backends.hpp"
#include "nn/layers.hpp"
#include "nn/ops.hpp"
