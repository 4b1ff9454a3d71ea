/* signal.c: being written */
