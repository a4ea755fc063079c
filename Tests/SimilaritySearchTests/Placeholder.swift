// Tests for SimilaritySearch are added with the module's code.
