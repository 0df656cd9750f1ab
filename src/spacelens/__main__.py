from spacelens.cli import main

main()
