# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Data formats shared by simulation, bags and SFT: the episode dataset and image encodings."""
