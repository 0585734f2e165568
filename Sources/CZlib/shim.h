// Debian's zlib1g-dev installs zlib.h on the default include path.
#include <zlib.h>
