// facekit/version.hpp
#pragma once
#define FACEKIT_VERSION_MAJOR 0
#define FACEKIT_VERSION_MINOR 1
#define FACEKIT_VERSION_PATCH 0
#define FACEKIT_VERSION_STRING "0.1.0"
