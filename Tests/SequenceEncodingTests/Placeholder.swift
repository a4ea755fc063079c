// Tests for SequenceEncoding are added with the module's code.
