// Tests for VectorIndex are added with the module's code.
