/// (Being written.)
enum RepresentationMeasures {
    static let all: [any Measure] = []
}
