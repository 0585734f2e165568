/// (Being written.)
enum NormMeasures {
    static let all: [any Measure] = []
}
