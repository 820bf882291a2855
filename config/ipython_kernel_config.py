# Installed by `make` into .venv/etc/ipython/, so it applies to every kernel the
# venv starts (papermill, nbval, JupyterLab) and to nothing outside this clone.
#
# TensorFlow's C++ runtime writes log lines straight to file descriptor 2. By
# default ipykernel captures that descriptor into the notebook, but not when it
# runs under pytest (nbval), so committed notebooks would hold stderr outputs that
# nbval never sees again. Leaving fd output on the terminal makes both agree.
c = get_config()  # noqa: F821
c.IPKernelApp.capture_fd_output = False
