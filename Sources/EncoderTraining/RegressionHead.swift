public import RetrieveCore

/// A training-only linear head y = W e + b from the encoder's embedding (E values) to a teacher's feature
/// space (D values), for feature-regression distillation (`Losses.regression`).
///
/// It lives beside the encoder, never inside it: the model file holds the encoder alone, and nothing at run
/// time uses the head. Its parameters and AdamW moments go into training checkpoints only, so a resumed run
/// continues the same head. W starts uniform in ±1/√E (PyTorch's `nn.Linear` default), b at zero.
public final class RegressionHead {
    /// W, `D × E`.
    public var weight: Matrix
    /// b, D values.
    public var bias: [Float]
    /// The head's own optimiser (the encoder's hyper-parameters, weight decay on W only).
    public internal(set) var optimizer: AdamW

    public var inputSize: Int { weight.columns }
    public var outputSize: Int { weight.rows }
    /// W's values then b's, the order of the optimiser's moments and of `gradient`.
    public var parameterCount: Int { weight.storage.count + bias.count }

    public init(inputSize: Int, outputSize: Int, seed: UInt64, options: TrainingOptions) {
        precondition(inputSize > 0 && outputSize > 0, "A regression head needs positive sizes")
        var rng = SplitMix64(seed: seed)
        let bound = 1 / Float(inputSize).squareRoot()
        weight = Matrix(rows: outputSize, columns: inputSize,
                        storage: (0..<(inputSize * outputSize)).map { _ in Float.random(in: -bound...bound, using: &rng) })
        bias = [Float](repeating: 0, count: outputSize)
        optimizer = AdamW(parameterCount: inputSize * outputSize + outputSize, beta1: options.beta1,
                          beta2: options.beta2, epsilon: options.epsilon, weightDecay: options.weightDecay)
    }

    /// A head restored from a checkpoint's flat parameters (W then b) and moments.
    init(inputSize: Int, outputSize: Int, parameters: [Float], optimizer: AdamW) {
        precondition(parameters.count == inputSize * outputSize + outputSize, "Regression head parameters of the wrong size")
        weight = Matrix(rows: outputSize, columns: inputSize, storage: Array(parameters[0..<(inputSize * outputSize)]))
        bias = Array(parameters[(inputSize * outputSize)...])
        self.optimizer = optimizer
    }

    /// W's values then b's.
    public var flatParameters: [Float] { weight.storage + bias }

    /// One AdamW update with the gradient `gradient` (W's values then b's, already clipped and scaled).
    func update(gradient: [Float], learningRate: Float, options: TrainingOptions) {
        optimizer.beta1 = options.beta1; optimizer.beta2 = options.beta2
        optimizer.epsilon = options.epsilon; optimizer.weightDecay = options.weightDecay
        var parameters = flatParameters
        let decayed = [0..<weight.storage.count]
        parameters.withUnsafeMutableBufferPointer { p in
            gradient.withUnsafeBufferPointer { g in
                optimizer.update(parameters: p.baseAddress!, gradients: g.baseAddress!, decayed: decayed,
                                 learningRate: learningRate)
            }
        }
        weight.storage = Array(parameters[0..<weight.storage.count])
        bias = Array(parameters[weight.storage.count...])
    }
}
