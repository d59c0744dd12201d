// Training tests: filled in once data/synthetic.hpp lands.
