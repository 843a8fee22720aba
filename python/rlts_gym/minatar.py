"""Importing this module registers MinAtar's Gymnasium envs (`MinAtar/Breakout-v1`, ...): minatar 1.0.15's
entry point is not loaded by Gymnasium 1.x and `import minatar.gym` alone registers nothing. Give it to
the server as `env.python_modules: [rlts_gym.minatar]` (`--module rlts_gym.minatar`)."""

import minatar.gym

minatar.gym.register_envs()
