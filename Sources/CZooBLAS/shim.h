// Debian's libopenblas-dev installs cblas.h (with the OpenBLAS extensions such as
// openblas_set_num_threads) under the multiarch include folder, which is on the default path.
#include <cblas.h>
// mallopt: the engine asks malloc to keep large freed blocks for reuse (see BLAS.swift).
#include <malloc.h>
