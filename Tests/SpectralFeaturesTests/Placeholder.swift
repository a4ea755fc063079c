// Tests for SpectralFeatures are added with the module's code.
