// Shared by the examples: where the converted weights are (argument, $FACEKIT_MODELS, or the build's).
#pragma once
#include <cstdlib>
#include <string>

#ifndef FACEKIT_DEFAULT_MODELS_DIR
#define FACEKIT_DEFAULT_MODELS_DIR "build/models"
#endif

inline std::string models_dir() {
    const char* env = std::getenv("FACEKIT_MODELS");
    return env && *env ? env : FACEKIT_DEFAULT_MODELS_DIR;
}
