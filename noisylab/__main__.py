"""``python -m noisylab``: the command line, also as ``torchrun ... -m noisylab train ...``."""

from noisylab.cli import main

if __name__ == "__main__":
    main()
