import AudioDecoding
import Foundation
import Analysis
import RetrieveCore
import SequenceEncoding
import SpectralFeatures
import Testing
import TestSupport
import PipelineTestSupport

/// Evaluation, queries and the index must score one embedding: the analyser's, however the audio arrives.
@Suite struct AnalysisAgreementTests {
    @Test(arguments: [0.5, 2.0, 7.3])
    func decodedSamplesEmbedExactlyAsTheFileDoes(seconds: Double) throws {
        let f = try PipelineFixture(tracks: 0)
        let url = try f.writeTrack(index: 3, seconds: seconds)
        let analyser = try EncoderAnalyser(encoder: f.encoder)
        let fromFile = try analyser.analyse(path: url.path)
        let samples = try AudioDecoder(targetSampleRate: f.encoder.configuration.features.sampleRate).decode(url).samples
        let fromSamples = try #require(analyser.embedding(samples: samples))
        #expect(fromSamples.values == fromFile.embedding.values)
        // And the whole-matrix path of the encoder cuts the same segments.
        let extractor = try SpectralFeatures.FeatureExtractor(configuration: f.encoder.configuration.features)
        let whole = try #require(f.encoder.embedTrack(logMel: extractor.logMel(samples)))
        #expect(zip(whole.values, fromFile.embedding.values).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(f.encoder.segments(of: extractor.logMel(samples)).count == fromFile.segmentCount)
    }
}
