import Foundation
public import RetrieveCore
import LinearAlgebra

/// How the triplet loss picks its triplets inside a P×K batch.
public enum TripletMining: String, Codable, Sendable, Equatable {
    /// Per anchor, the hardest positive (largest distance) and the hardest negative (smallest distance).
    case batchHard
    /// Per positive pair (a, p), the closest negative that is farther than p (d_an > d_ap); if no negative
    /// is, the farthest negative (TensorFlow's `triplet_semihard_loss` convention).
    case semiHard
}

/// Training losses with their gradients, written out by hand.
public enum Losses {
    /// Mean softmax cross-entropy of `logits` (`N × C`) against class indices `labels`.
    ///
    /// Returns the loss, ∂loss/∂logits = (softmax − one-hot) / N, and how many rows have their label as argmax.
    public static func softmaxCrossEntropy(logits: Matrix, labels: [Int]) -> (loss: Float, gradient: Matrix, correct: Int) {
        precondition(labels.count == logits.rows, "\(labels.count) labels for \(logits.rows) rows of logits")
        let n = logits.rows, k = logits.columns
        var gradient = Matrix(rows: n, columns: k)
        var loss: Double = 0
        var correct = 0
        for r in 0..<n {
            precondition(labels[r] >= 0 && labels[r] < k, "Label \(labels[r]) outside 0..<\(k)")
            var m = -Float.infinity, best = 0
            for j in 0..<k where logits[r, j] > m { m = logits[r, j]; best = j }
            if best == labels[r] { correct += 1 }
            var sum: Double = 0
            for j in 0..<k { sum += Foundation.exp(Double(logits[r, j] - m)) }
            loss += Foundation.log(sum) - Double(logits[r, labels[r]] - m)
            for j in 0..<k {
                gradient[r, j] = Float(Foundation.exp(Double(logits[r, j] - m)) / sum) / Float(n)
            }
            gradient[r, labels[r]] -= 1 / Float(n)
        }
        return (Float(loss / Double(max(n, 1))), gradient, correct)
    }

    /// Triplet loss on cosine distance d = 1 − eₐ·eₚ of unit-length embeddings (`N × E`):
    /// the mean over selected triplets of max(0, d_ap − d_an + margin), and its gradient with respect to the
    /// embeddings. Anchors without a positive or a negative in the batch contribute nothing; with none
    /// usable the loss is 0.
    public static func triplet(embeddings: Matrix, labels: [Int], margin: Float = 0.2, mining: TripletMining = .batchHard)
        -> (loss: Float, gradient: Matrix)
    {
        let n = embeddings.rows
        precondition(labels.count == n, "\(labels.count) labels for \(n) embeddings")
        let similarity = BLAS.multiply(embeddings, .none, embeddings, .transposed)
        func dist(_ a: Int, _ b: Int) -> Float { 1 - similarity[a, b] }
        // Selected triplets with their loss; the gradient of each positive term flows through d_ap − d_an.
        var terms: [(a: Int, p: Int, q: Int, value: Float)] = []
        for a in 0..<n {
            let positives = (0..<n).filter { $0 != a && labels[$0] == labels[a] }
            let negatives = (0..<n).filter { labels[$0] != labels[a] }
            if positives.isEmpty || negatives.isEmpty { continue }
            switch mining {
            case .batchHard:
                let p = positives.max { dist(a, $0) < dist(a, $1) }!
                let q = negatives.min { dist(a, $0) < dist(a, $1) }!
                terms.append((a, p, q, dist(a, p) - dist(a, q) + margin))
            case .semiHard:
                for p in positives {
                    let dap = dist(a, p)
                    let farther = negatives.filter { dist(a, $0) > dap }
                    let q = farther.min { dist(a, $0) < dist(a, $1) } ?? negatives.max { dist(a, $0) < dist(a, $1) }!
                    terms.append((a, p, q, dap - dist(a, q) + margin))
                }
            }
        }
        var gradient = Matrix(rows: n, columns: embeddings.columns)
        if terms.isEmpty { return (0, gradient) }
        let scale = 1 / Float(terms.count)
        var loss: Float = 0
        let e = embeddings.columns
        for term in terms where term.value > 0 {
            loss += term.value
            // ∂d(a,b)/∂e_a = −e_b, ∂d(a,b)/∂e_b = −e_a; the term is +d_ap − d_an.
            for k in 0..<e {
                let ea = embeddings[term.a, k], ep = embeddings[term.p, k], eq = embeddings[term.q, k]
                gradient[term.a, k] += scale * (-ep + eq)
                gradient[term.p, k] -= scale * ea
                gradient[term.q, k] += scale * ea
            }
        }
        return (loss * scale, gradient)
    }
}
