// Tests for AudioDecoding are added with the module's code.
