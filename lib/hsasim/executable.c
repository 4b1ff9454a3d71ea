/* executable.c: being written */
