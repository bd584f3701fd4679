# Kernel settings for building and testing the book (selected by IPYTHONDIR in the Makefile).
# TensorFlow writes C++ log lines straight to file descriptor 2; by default the kernel captures
# them into the cell's stderr, and they would show up in the rendered pages. Leave them on the
# terminal instead.
c.IPKernelApp.capture_fd_output = False
