from mailhooks.cli import main

main()
