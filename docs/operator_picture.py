# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Draw docs/operator_interface.png: the operator's terminal as the node draws it.

The text comes from ``tgrpo_ros.real.operator.render``, the function the terminal interface
draws with, so the picture cannot drift from the interface. Run from the repository root:
``PYTHONPATH=. python docs/operator_picture.py``.
"""

from pathlib import Path

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from tgrpo_ros.real.operator import OperatorView, render  # noqa: E402


def main() -> None:
    view = OperatorView(group_id=4, trial=2, trials_per_group=4, episode_id=14,
                        task='libero_object/pick_up_the_alphabet_soup_and_place_it_in_the_basket',
                        init_state=3, policy_version='v3', safety='ARMED: ok', stage=2,
                        num_stages=5, last_label='success')
    for line in ('reset asked: group 4, initial state 3', 'reset done',
                 'episode 13 step 118: success', 'reset asked: group 4, initial state 3',
                 'reset done'):
        view.note(line)
    lines = render(view, width=84)
    fig = plt.figure(figsize=(8.6, 0.19 * len(lines) + 0.3), facecolor='#1e1e1e')
    fig.text(0.01, 0.98, '\n'.join(lines), family='monospace', fontsize=8.5, color='#d4d4d4',
             va='top', ha='left')
    out = Path(__file__).with_name('operator_interface.png')
    fig.savefig(out, dpi=110, facecolor=fig.get_facecolor())
    print(out)


if __name__ == '__main__':
    main()
