#!/usr/bin/perl
###############################################################################
# Test fixture in regex.custom.pm's shape, as shipped: no custom rules.
###############################################################################
sub custom_line {
        my $line = shift;
        my $lgfile = shift;

# Your custom regex rules go here

# If the matches in this file are not syntactically correct for perl then lfd
# will fail with an error.

        return 0;
}

1;
