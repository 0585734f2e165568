/// (Being written.)
enum FlatnessMeasures {
    static let all: [any Measure] = []
}
