#!/usr/bin/env python3
"""Prints facekit's version as include/facekit/version.hpp writes it (the one place it is written)."""
import os
import re

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "..", "include", "facekit", "version.hpp"), encoding="utf-8") as f:
    print(re.search(r'#define FACEKIT_VERSION_STRING "([0-9.]+)"', f.read()).group(1))
