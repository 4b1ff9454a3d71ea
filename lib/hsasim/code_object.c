/* code_object.c: being written */
