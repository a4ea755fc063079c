// Tests for EncoderTraining are added with the module's code.
