/// (Being written.)
enum WeightMeasures {
    static let all: [any Measure] = []
}
