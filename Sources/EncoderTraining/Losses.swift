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

    /// Contrastive (NT-Xent / InfoNCE) loss over groups of unit-length embeddings (`N × E`): every item is an
    /// anchor whose positives are the other items of its group (crops of one track), all other items are its
    /// negatives, at temperature τ:
    ///
    ///     loss = −(1/|A|) Σ_a (1/|P_a|) Σ_{p∈P_a} log( exp(s_ap/τ) / Σ_{j≠a} exp(s_aj/τ) ),  s = eᵀe'
    ///
    /// (the SupCon "outside" form; with two crops per group it is NT-Xent). Anchors without a positive
    /// contribute nothing; with none usable the loss is 0. Returns the loss and ∂loss/∂embeddings.
    /// - Complexity: O(N² E).
    public static func contrastive(embeddings: Matrix, groups: [Int], temperature: Float = 0.1)
        -> (loss: Float, gradient: Matrix)
    {
        let n = embeddings.rows, e = embeddings.columns
        precondition(groups.count == n, "\(groups.count) groups for \(n) embeddings")
        precondition(temperature > 0, "temperature must be positive, got \(temperature)")
        var gradient = Matrix(rows: n, columns: e)
        guard n > 1 else { return (0, gradient) }
        let similarity = BLAS.multiply(embeddings, .none, embeddings, .transposed)
        // dS[a, j]: ∂loss/∂s_aj, accumulated per anchor; then ∂/∂e_a += Σ_j dS[a,j] e_j, ∂/∂e_j += dS[a,j] e_a.
        var dS = Matrix(rows: n, columns: n)
        var loss = 0.0
        var anchors = 0
        for a in 0..<n {
            let positives = (0..<n).filter { $0 != a && groups[$0] == groups[a] }
            if positives.isEmpty { continue }
            anchors += 1
            var m = -Float.infinity
            for j in 0..<n where j != a { m = max(m, similarity[a, j] / temperature) }
            var sum = 0.0
            for j in 0..<n where j != a { sum += Foundation.exp(Double(similarity[a, j] / temperature - m)) }
            let logSum = Double(m) + Foundation.log(sum)
            let share = 1 / Double(positives.count)
            for p in positives { loss -= share * (Double(similarity[a, p] / temperature) - logSum) }
            for j in 0..<n where j != a {
                let softmax = Foundation.exp(Double(similarity[a, j] / temperature) - logSum)
                dS[a, j] += Float(softmax) / temperature
            }
            for p in positives { dS[a, p] -= Float(share) / temperature }
        }
        guard anchors > 0 else { return (0, gradient) }
        let scale = 1 / Float(anchors)
        for i in 0..<dS.storage.count { dS.storage[i] *= scale }
        // ∂loss/∂E = (dS + dSᵀ) E.
        var symmetric = dS
        for a in 0..<n { for j in 0..<n { symmetric[a, j] = dS[a, j] + dS[j, a] } }
        gradient = BLAS.multiply(symmetric, .none, embeddings, .none)
        return (Float(loss) * scale, gradient)
    }

    /// Relational distillation: the mean squared difference between the batch's pairwise cosines and a
    /// teacher's, over the pairs i ≠ j that both have a target:
    ///
    ///     loss = (1/|P|) Σ_{(i,j)∈P} (eᵢ·eⱼ − tᵢ·tⱼ)²
    ///
    /// `embeddings` (`N × E`) and `targets` (`N × D`) hold unit rows; a target row of zeros marks a segment
    /// without a teacher target (it takes part in no pair). The teacher's dimension D need not be E: only its
    /// similarity structure is learned. With fewer than two targets the loss is 0.
    /// - Complexity: O(N² (E + D)).
    public static func relational(embeddings: Matrix, targets: Matrix) -> (loss: Float, gradient: Matrix) {
        let n = embeddings.rows
        precondition(targets.rows == n, "\(targets.rows) targets for \(n) embeddings")
        var gradient = Matrix(rows: n, columns: embeddings.columns)
        let has = (0..<n).map { r in (0..<targets.columns).contains { targets[r, $0] != 0 } }
        let count = has.filter { $0 }.count
        guard count >= 2 else { return (0, gradient) }
        let s = BLAS.multiply(embeddings, .none, embeddings, .transposed)
        let t = BLAS.multiply(targets, .none, targets, .transposed)
        let pairs = Float(count * (count - 1))
        var dS = Matrix(rows: n, columns: n)
        var loss = 0.0
        for i in 0..<n where has[i] {
            for j in 0..<n where j != i && has[j] {
                let d = s[i, j] - t[i, j]
                loss += Double(d * d)
                dS[i, j] = 2 * d / pairs
            }
        }
        // ∂loss/∂E = (dS + dSᵀ) E; dS is symmetric here.
        for i in 0..<dS.storage.count { dS.storage[i] *= 2 }
        gradient = BLAS.multiply(dS, .none, embeddings, .none)
        return (Float(loss) / pairs, gradient)
    }

    /// Track-level relational distillation: the crops of a group (one track's crops in the batch) are pooled as
    /// the index pools a track's segments — their mean, L2-normalised, pᵍ = m/‖m‖ with m = (1/|g|) Σ_{i∈g} eᵢ —
    /// and the pooled vectors learn the teacher's pairwise cosines of whole tracks (`relational` over the groups):
    ///
    ///     loss = (1/|P|) Σ_{(g,h)∈P} (pᵍ·pʰ − tᵍ·tʰ)²
    ///
    /// over pairs of distinct groups that both have a target. `targets` (`N × D`) holds a group's target (a
    /// unit row, e.g. the teacher's mean over the whole track) in the row of each of its crops; the group's
    /// first row is taken, and a zero row means no target. The crops themselves stay free to differ: only
    /// their mean is asked to sit where the teacher puts the track. A group whose mean has length below 1e-12
    /// takes part in no pair. Returns the loss and ∂loss/∂embeddings (`N × E`).
    /// - Complexity: O(N E + G² (E + D)) for G groups.
    public static func pooledRelational(embeddings: Matrix, groups: [Int], targets: Matrix) -> (loss: Float, gradient: Matrix) {
        let n = embeddings.rows, e = embeddings.columns
        precondition(groups.count == n && targets.rows == n, "\(groups.count) groups and \(targets.rows) targets for \(n) embeddings")
        var gradient = Matrix(rows: n, columns: e)
        var order: [Int] = []
        var members: [Int: [Int]] = [:]
        for (i, g) in groups.enumerated() {
            if members[g] == nil { order.append(g) }
            members[g, default: []].append(i)
        }
        // Pooled unit vectors and the lengths of the means, for the groups with a target.
        var kept: [(rows: [Int], length: Float)] = []
        var pooled: [[Float]] = [], pooledTargets: [[Float]] = []
        for g in order {
            let rows = members[g]!
            let target = targets.row(rows[0])
            guard target.contains(where: { $0 != 0 }) else { continue }
            var mean = [Float](repeating: 0, count: e)
            for r in rows { for j in 0..<e { mean[j] += embeddings[r, j] } }
            for j in 0..<e { mean[j] /= Float(rows.count) }
            let length = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard length > 1e-12 else { continue }
            kept.append((rows, length))
            pooled.append(mean.map { $0 / length })
            pooledTargets.append(target)
        }
        guard kept.count >= 2 else { return (0, gradient) }
        let r = relational(embeddings: Matrix(rowArrays: pooled), targets: Matrix(rowArrays: pooledTargets))
        // Through the normalisation, ∂/∂m = (I − p pᵀ) ∂/∂p / ‖m‖, and the mean, ∂/∂eᵢ = ∂/∂m / |g|.
        for (k, group) in kept.enumerated() {
            let p = pooled[k]
            var along: Float = 0
            for j in 0..<e { along += r.gradient[k, j] * p[j] }
            let scale = 1 / (group.length * Float(group.rows.count))
            for row in group.rows {
                for j in 0..<e { gradient[row, j] = (r.gradient[k, j] - along * p[j]) * scale }
            }
        }
        return (r.loss, gradient)
    }

    /// Consistency of aligned pairs: the mean cosine distance between the two embeddings of each pair (i, j) —
    /// one moment of a track and its degraded copy —
    ///
    ///     loss = (1/|A|) Σ_{(i,j)∈A} (1 − eᵢ·eⱼ)
    ///
    /// pulling each pair to cosine 1 (the contrastive loss only asks for closer than the others). `embeddings`
    /// (`N × E`) holds unit rows. With no pair the loss is 0. Returns the loss and ∂loss/∂embeddings.
    public static func consistency(embeddings: Matrix, pairs: [(Int, Int)]) -> (loss: Float, gradient: Matrix) {
        let e = embeddings.columns
        var gradient = Matrix(rows: embeddings.rows, columns: e)
        guard !pairs.isEmpty else { return (0, gradient) }
        let share = 1 / Float(pairs.count)
        var loss: Float = 0
        for (i, j) in pairs {
            precondition(i != j && embeddings.rows > max(i, j) && min(i, j) >= 0, "pair (\(i), \(j)) outside the batch")
            var dot: Float = 0
            for k in 0..<e { dot += embeddings[i, k] * embeddings[j, k] }
            loss += share * (1 - dot)
            for k in 0..<e {
                gradient[i, k] -= share * embeddings[j, k]
                gradient[j, k] -= share * embeddings[i, k]
            }
        }
        return (loss, gradient)
    }

    /// Feature-regression distillation through a linear head: each embedding eᵢ (a row of `embeddings`,
    /// `N × E`) is mapped to yᵢ = W eᵢ + b (`weight` is `D × E`, `bias` has D values) and compared with its
    /// teacher target tᵢ (a row of `targets`, `N × D`) by cosine:
    ///
    ///     loss = (1/|T|) Σ_{i∈T} (1 − yᵢ·tᵢ / (‖yᵢ‖ ‖tᵢ‖))
    ///
    /// over the rows T whose target is not all zeros (a zero row marks a segment without a teacher target).
    /// Cosine rather than squared error: the targets are directions (z-scored, unit rows), the student is
    /// scored by cosine, and the loss then ignores the head's output scale. With no target the loss is 0.
    /// A yᵢ of length below 1e-12 contributes its loss but no gradient (the cosine has none there).
    /// Returns the loss and its gradients with respect to the embeddings (`N × E`), W (`D × E`) and b.
    /// - Complexity: O(N D E).
    public static func regression(embeddings: Matrix, targets: Matrix, weight: Matrix, bias: [Float])
        -> (loss: Float, embeddings: Matrix, weight: Matrix, bias: [Float])
    {
        let n = embeddings.rows, d = weight.rows
        precondition(targets.rows == n, "\(targets.rows) targets for \(n) embeddings")
        precondition(weight.columns == embeddings.columns && targets.columns == d && bias.count == d,
                     "head \(weight.rows)×\(weight.columns) + \(bias.count) does not map \(embeddings.columns) to \(d)")
        let has = (0..<n).map { r in (0..<d).contains { targets[r, $0] != 0 } }
        let count = has.filter { $0 }.count
        guard count > 0 else {
            return (0, Matrix(rows: n, columns: embeddings.columns), Matrix(rows: d, columns: weight.columns),
                    [Float](repeating: 0, count: d))
        }
        var y = BLAS.multiply(embeddings, .none, weight, .transposed)
        for r in 0..<n { for j in 0..<d { y[r, j] += bias[j] } }
        var dY = Matrix(rows: n, columns: d)
        var loss = 0.0
        let share = 1 / Double(count)
        for r in 0..<n where has[r] {
            var yy = 0.0, tt = 0.0, yt = 0.0
            for j in 0..<d {
                let a = Double(y[r, j]), t = Double(targets[r, j])
                yy += a * a; tt += t * t; yt += a * t
            }
            let ny = yy.squareRoot(), nt = tt.squareRoot()
            let cosine = ny > 1e-12 ? yt / (ny * nt) : 0
            loss += share * (1 - cosine)
            guard ny > 1e-12 else { continue }
            // ∂(1 − cos)/∂y = −(t̂ − cos · ŷ) / ‖y‖.
            for j in 0..<d {
                let g = -(Double(targets[r, j]) / nt - cosine * Double(y[r, j]) / ny) / ny
                dY[r, j] = Float(share * g)
            }
        }
        var dBias = [Float](repeating: 0, count: d)
        for r in 0..<n { for j in 0..<d { dBias[j] += dY[r, j] } }
        return (Float(loss), BLAS.multiply(dY, .none, weight, .none), BLAS.multiply(dY, .transposed, embeddings, .none),
                dBias)
    }
}
