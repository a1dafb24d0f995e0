# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""tgrpo_ros: TGRPO fine-tuning of Vision-Language-Action models over ROS 2.

The algorithm (``tgrpo_ros.algo``), the policy (``tgrpo_ros.policy``) and the simulator
adapter (``tgrpo_ros.sim``) import no ROS module; only ``tgrpo_ros.ros.nodes`` does.
The generated interfaces live in ``tgrpo_ros.msg`` and ``tgrpo_ros.srv``.
"""

import pkgutil

# The interfaces are generated into the installed copy of this package (install/...), while a
# developer may import the sources from the repository: merge both so `tgrpo_ros.msg` resolves.
__path__ = pkgutil.extend_path(__path__, __name__)

__version__ = '0.1.0'
